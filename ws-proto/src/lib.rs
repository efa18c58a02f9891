//! A sans-IO WebSocket (RFC 6455) protocol core.
//!
//! `ws-proto` is a pure state machine: it consumes bytes read from a socket and the passing of
//! time, and emits bytes to write, socket actions and events for the application. It never
//! touches a socket, a clock or a thread, so it runs under any async runtime, in a hand-written
//! event loop, in tests with a virtual clock, and under a fuzzer. It builds with `no_std` + `alloc`
//! (`--no-default-features`); the default `std` feature adds `std::error::Error` impls and
//! AVX-512/AVX2 unmasking chosen at run time.
//!
//! # The run loop
//!
//! A driver owns the socket and a timer and does, until the connection is closed:
//!
//! 1. feed what happened: [`Connection::handle_read`] with bytes read,
//!    [`Connection::handle_eof`] when `read` returns 0, [`Connection::handle_timeout`] when the
//!    timer fires, [`Connection::handle_transport_error`] when the socket fails;
//!    and the application's commands ([`Connection::send_text`], [`Connection::close`], ...);
//! 2. drain [`Connection::poll`] until it returns `None`, carrying out each [`Action`] in order:
//!    `Transmit(n)` (write the `n` bytes appended to the buffer), `ShutdownWrite` (flush, then shut
//!    down the write side), `CloseSocket` (close it), `Event(..)` (give it to the application);
//! 3. arm the timer at [`Connection::poll_timeout`].
//!
//! ```
//! use ws_proto::{Action, Connection, Config, Event, Instant};
//!
//! let mut server = Connection::server(Instant::ZERO, Config::default());
//! // A masked text frame "Hello" from a client (RFC 6455 section 5.7).
//! server.handle_read(Instant::ZERO, &[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
//! let mut out = Vec::new();
//! while let Some(action) = server.poll(&mut out) {
//!     match action {
//!         Action::Event(Event::Text(text)) => server.send_text(&text).unwrap(), // echo
//!         Action::Transmit(n) => { /* write the last n bytes of `out` */ }
//!         Action::ShutdownWrite | Action::CloseSocket => { /* act on the socket */ }
//!         _ => {}
//!     }
//! }
//! assert_eq!(out, [0x81, 0x05, b'H', b'e', b'l', b'l', b'o']);
//! ```
//!
//! # Closing
//!
//! The close handshake follows RFC 6455 section 7 and never holds a connection longer than the
//! protocol needs: a server closes TCP as soon as a Close frame went each way, without waiting for
//! the client's FIN; a client waits for the server's FIN under `client_eof_timeout`; a peer that
//! never answers our Close is cut off at `close_timeout`; a silent peer is detected by keepalive.
//! [`Event::Closed`] is emitted exactly once, after the socket is released, and after every
//! message that arrived before the peer's Close. See [`Connection`] for the phases.
//!
//! # Limits
//!
//! `max_frame_size` and `max_message_size` ([`Config`]) are checked from each frame header before
//! its payload is buffered; memory held for input grows only with payload actually received.
#![no_std]
// Denied, not forbidden: two small modules are allowed `unsafe`, each for one kind of call that
// a benchmark showed worth it: `mask_simd` (AVX-512/AVX2 builds of a safe loop, after run-time
// detection) and `text` (`Utf8Bytes` read as a `str`: every constructor checks the bytes, by
// simdutf8, or under 64 bytes for ASCII first); see their docs.
#![deny(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod close;
mod codec;
mod config;
mod connection;
#[cfg(feature = "deflate")]
pub mod deflate;
mod error;
mod event;
pub mod frame;
#[cfg(feature = "handshake")]
pub mod handshake;
mod instant;
pub mod mask;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod mask_simd;
mod output;
mod prepared;
mod queue;
mod reader;
mod state;
mod text;
mod transmit;
pub mod utf8;

pub use bytes::Bytes;
pub use close::{CloseCode, CloseFrame, MAX_REASON_LEN};
pub use config::Config;
pub use connection::Connection;
pub use error::{CommandError, ProtocolError};
pub use event::{Action, Closed, Compression, Event, Fragment, Initiator, MessageKind, Outcome};
#[cfg(feature = "handshake")]
pub use handshake::{
    ClientAction, ClientHandshake, ClientUpgrade, HandshakeError, ServerAction, ServerHandshake,
    ServerUpgrade,
};
pub use instant::Instant;
pub use mask::{FixedMask, MaskSource};
pub use prepared::PreparedMessage;
pub use state::{Role, State};
pub use text::Utf8Bytes;
pub use transmit::{Transmit, TransmitBuf};
