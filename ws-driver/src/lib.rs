//! The runtime-agnostic async driver behind `ws-tokio`, `ws-smol` and `ws-async-std`.
//!
//! Everything about WebSocket lives in `ws-proto`; everything about one runtime lives in its
//! adapter crate, which implements [`Transport`] for its sockets and [`Runtime`] for its timer.
//! This crate holds what they share: [`WebSocket`] (a `Stream` and `Sink` of [`Message`]s,
//! splittable into halves that never deadlock), the async opening handshakes, the OS-backed mask
//! source, and the adapter [`Config`]. Application code uses it through an adapter crate.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod error;
mod handshake;
mod message;
mod monitor;
mod random;
mod runtime;
mod shared;
mod target;
mod websocket;

pub use config::Config;
pub use error::Error;
pub use handshake::{client_handshake, server_handshake, Decision};
pub use message::Message;
pub use monitor::{graceful_shutdown, DurationSummary, Monitor, ShutdownReport, Snapshot};
pub use random::{handshake_key, OsMasks};
#[cfg(feature = "async-io")]
pub use runtime::{AsyncIo, FuturesIo};
pub use runtime::{Runtime, Transport};
pub use target::connect_target;
#[cfg(feature = "rustls")]
pub use target::{default_tls_config, server_name};
pub use websocket::{fragment, ReadHalf, ReuniteError, WebSocket, WriteHalf};
pub use ws_proto::deflate::DeflateConfig;
pub use ws_proto::handshake::Accept;
pub use ws_proto::{
    CloseCode, CloseFrame, Closed, Compression, Initiator, MessageKind, Outcome, PreparedMessage,
    Role, State, Utf8Bytes,
};
