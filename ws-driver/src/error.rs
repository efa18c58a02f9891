//! The adapters' error type.

use std::fmt;
use ws_proto::{Closed, CommandError, HandshakeError};

/// Why a WebSocket operation failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Connecting, reading or writing the socket failed.
    Io(std::io::Error),
    /// The opening handshake failed or was refused ([`HandshakeError::Rejected`] carries the
    /// server's response).
    Handshake(HandshakeError),
    /// The URL is not a usable `ws://` or `wss://` URL.
    Url(String),
    /// `wss://` needs the `rustls` feature.
    TlsUnsupported,
    /// TLS setup failed.
    Tls(String),
    /// The connection refused the command (sending after a Close, a bad close code, ...).
    Command(CommandError),
    /// The connection ended without a clean close handshake: protocol error, close timeout,
    /// dead peer, terminated, reset. The report says which.
    ConnectionLost(Box<Closed>),
    /// The connection is closed; nothing more can be sent or received.
    AlreadyClosed,
    /// Server: the accept callback answered the request with this status instead of upgrading.
    Refused(http::StatusCode),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Handshake(e) => write!(f, "handshake failed: {e}"),
            Error::Url(why) => write!(f, "invalid URL: {why}"),
            Error::TlsUnsupported => f.write_str("wss:// needs the rustls feature"),
            Error::Tls(why) => write!(f, "TLS error: {why}"),
            Error::Command(e) => write!(f, "{e}"),
            Error::ConnectionLost(closed) => write!(
                f,
                "connection lost ({:?}, code {}, clean: {})",
                closed.outcome, closed.code, closed.was_clean
            ),
            Error::AlreadyClosed => f.write_str("the connection is closed"),
            Error::Refused(status) => {
                write!(f, "request answered with {status} instead of an upgrade")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Handshake(e) => Some(e),
            Error::Command(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<HandshakeError> for Error {
    fn from(e: HandshakeError) -> Self {
        Error::Handshake(e)
    }
}

impl From<CommandError> for Error {
    fn from(e: CommandError) -> Self {
        Error::Command(e)
    }
}
