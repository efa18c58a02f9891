//! WebSocket (RFC 6455) for async-std, built on the sans-IO core `ws-proto`.
//!
//! async-std is discontinued upstream, and it runs on the same `async-io` reactor as smol, so
//! this crate is a thin shim: it re-exports [`ws_smol`], whose driver speaks the `futures-io`
//! traits that async-std's sockets implement. [`accept`] takes an `async_std::net::TcpStream`
//! (or any `futures-io` stream); [`connect`] returns a WebSocket over an `async-io` TCP stream,
//! which works under async-std's executor like its own.
//!
//! ```no_run
//! use futures_util::{SinkExt, StreamExt};
//! # async fn run() -> Result<(), ws_async_std::Error> {
//! let listener = async_std::net::TcpListener::bind("127.0.0.1:9001").await?;
//! let (stream, _) = listener.accept().await?;
//! let mut ws = ws_async_std::accept(stream).await?;
//! while let Some(Ok(message)) = ws.next().await {
//!     ws.send(message).await?;
//! }
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use ws_smol::*;
