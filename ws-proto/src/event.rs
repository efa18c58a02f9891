//! What the connection hands back to its driver: actions on the socket and events for the
//! application, in one ordered queue.

use crate::close::{CloseCode, CloseFrame};
use crate::error::ProtocolError;
use crate::text::Utf8Bytes;
use alloc::string::String;
use bytes::Bytes;

/// One output of [`Connection::poll`](crate::Connection::poll), to be carried out in order.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// `n` bytes were appended to the buffer passed to `poll`; write them to the socket.
    Transmit(usize),
    /// Write everything handed out so far, then shut down the socket's write side (TCP FIN).
    /// Nothing is transmitted after this.
    ShutdownWrite,
    /// Close the socket now. Only the final [`Event::Closed`] follows.
    ///
    /// Before closing, a driver should read and discard whatever the socket still holds: closing
    /// a TCP socket with unread data makes the kernel send RST instead of FIN, and an RST can
    /// destroy our last frames (the Close) before the peer reads them.
    CloseSocket,
    /// Something for the application.
    Event(Event),
}

/// Something that happened on the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A whole text message, validated as UTF-8.
    Text(Utf8Bytes),
    /// A whole binary message.
    Binary(Bytes),
    /// One data frame of a message, in fragment-streaming mode
    /// ([`Config::stream_fragments`](crate::Config::stream_fragments)).
    Fragment(Fragment),
    /// The peer sent a Ping (already answered if auto-pong is on).
    Ping(Bytes),
    /// The peer sent a Pong.
    Pong(Bytes),
    /// The peer sent a Close frame; the connection is now Closing and no further data will be
    /// delivered. [`Event::Closed`] follows once the transport is released.
    CloseReceived(CloseFrame),
    /// The connection is over and the socket released. Emitted exactly once, last. (Boxed: it is
    /// rare and large, and keeps every other event small.)
    Closed(alloc::boxed::Box<Closed>),
}

/// The kind of a data message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// UTF-8 text.
    Text,
    /// Arbitrary bytes.
    Binary,
}

/// Whether a message goes out compressed when permessage-deflate was negotiated (like the
/// `compress` option of Node `ws`'s `send`). Without the extension every message is sent as is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Compress messages of at least the configured threshold (1024 bytes by default).
    #[default]
    Auto,
    /// Compress regardless of size.
    Always,
    /// Send uncompressed: for data that is already compressed (images, video) or too small to
    /// gain, or to spend no CPU on this message.
    Never,
}

/// A data frame delivered in fragment-streaming mode.
///
/// For text, the concatenation of a message's fragments is valid UTF-8 (checked incrementally,
/// failing at the first bad byte), but one fragment may end inside a code point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fragment {
    /// The message's kind (from its first frame).
    pub kind: MessageKind,
    /// This frame's payload.
    pub data: Bytes,
    /// Whether this is the message's first frame.
    pub first: bool,
    /// Whether this is the message's last frame (FIN).
    pub last: bool,
}

/// Which side started the close handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Initiator {
    /// We sent the first Close (by `close()`, a protocol error or a keepalive timeout).
    Local,
    /// The peer sent the first Close.
    Remote,
    /// No Close frame went either way (EOF, transport error or `terminate()` while open).
    Neither,
}

/// How the connection ended, for monitoring: one value per cause.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// The close handshake completed and the transport ended normally.
    Clean,
    /// Client only: the close handshake completed but the server did not close TCP within
    /// `client_eof_timeout`, so the client closed it. Still clean.
    EofTimeout,
    /// We sent Close and the peer did not answer within `close_timeout`.
    CloseTimeout,
    /// A keepalive Ping went unanswered for `keepalive_timeout`.
    DeadPeer,
    /// The peer broke the protocol; we sent the matching Close code.
    ProtocolError(ProtocolError),
    /// The application called [`terminate`](crate::Connection::terminate).
    Terminated,
    /// The driver reported a transport error (connection reset, write failure).
    TransportError,
    /// The peer ended TCP before the close handshake completed.
    UnexpectedEof,
}

/// The final report of a connection, in [`Event::Closed`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Closed {
    /// The code the peer's Close frame carried ([`CloseCode::NO_STATUS`] if it had none), or
    /// [`CloseCode::ABNORMAL`] (1006) if no Close frame was received or the connection was terminated.
    pub code: CloseCode,
    /// The reason from the peer's Close frame, or empty.
    pub reason: String,
    /// Whether the close handshake completed (a Close frame went each way), as the WebSocket
    /// API's `CloseEvent.wasClean`. Always false after `terminate()`.
    pub was_clean: bool,
    /// Who started the close handshake.
    pub initiator: Initiator,
    /// Why the connection ended.
    pub outcome: Outcome,
    /// The Close frame we sent, if any.
    pub sent: Option<CloseFrame>,
    /// The Close frame we received, if any.
    pub received: Option<CloseFrame>,
}
