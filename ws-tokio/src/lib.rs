//! WebSocket (RFC 6455) for tokio, built on the sans-IO core [`ws-proto`].
//!
//! This crate is an empty shell: its driver, `connect`/`accept`, `Stream`/`Sink` and TLS arrive with
//! the runtime-adapters issue. Use `ws-proto` directly until then.
