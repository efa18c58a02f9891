//! WebSocket (RFC 6455) for async-std, built on the sans-IO core `ws-proto`.
//!
//! This crate is an empty shell until the runtime-adapters issue; it will be a thin shim over the
//! `futures-io` driver it shares with `ws-smol` (async-std is discontinued upstream).
