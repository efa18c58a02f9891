//! WebSocket (RFC 6455) for smol, built on the sans-IO core `ws-proto`.
//!
//! This crate is an empty shell until the runtime-adapters issue brings its `futures-io` driver.
