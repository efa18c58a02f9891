//! The opening handshake (RFC 6455 section 4) as two sans-IO machines, [`ServerHandshake`] and
//! [`ClientHandshake`].
//!
//! Like [`Connection`](crate::Connection), they consume bytes and time and produce bytes and
//! actions; they never touch a socket. When the upgrade succeeds they hand over a ready
//! `Connection` that has already been fed any bytes read past the end of the HTTP head (a client
//! may send its first frame in the same packet as its request).
//!
//! Parsing uses `httparse`; the API speaks the `http` crate's `Request`, `Response` and
//! `HeaderMap`, so applications can read and set any header, the path and query, cookies, `Origin`.
//!
//! # Bring your own handshake
//!
//! When an HTTP server already performed the upgrade (hyper, axum) or the connection is an
//! HTTP/2 extended CONNECT stream (RFC 8441), skip these machines and start the connection in
//! the Open state directly:
//!
//! ```
//! use ws_proto::{Config, Connection, Instant, Role};
//! # let now = Instant::ZERO;
//! let conn = Connection::new(Role::Server, now, Config::default(), || [0u8; 4]);
//! assert_eq!(conn.state(), ws_proto::State::Open);
//! ```

mod client;
mod extensions;
mod head;
mod server;

pub use client::{ClientAction, ClientHandshake, ClientUpgrade};
pub use extensions::{Extension, ExtensionNegotiator, ExtensionParam, ParseExtensionError};
pub use server::{Accept, ServerAction, ServerHandshake, ServerUpgrade};

use alloc::string::String;
use base64::Engine as _;
use core::fmt;
use http::HeaderMap;
use sha1::{Digest, Sha1};

/// The GUID every `Sec-WebSocket-Accept` is derived with (RFC 6455 section 1.3).
const WEBSOCKET_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: base64(SHA-1(key + GUID)).
pub fn accept_key(key: &[u8]) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(WEBSOCKET_GUID);
    base64::engine::general_purpose::STANDARD.encode(sha1.finalize())
}

/// Whether any `name` header holds `token` in its comma-separated list (case-insensitive).
pub(crate) fn has_token(headers: &HeaderMap, name: &str, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// The comma-separated tokens of every `name` header, in order.
pub(crate) fn tokens(headers: &HeaderMap, name: &str) -> alloc::vec::Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect()
}

/// Why a handshake failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The peer did not complete its HTTP head within `handshake_timeout`.
    Timeout,
    /// The peer closed the connection before the handshake completed.
    UnexpectedEof,
    /// The HTTP head exceeded `max_handshake_size`.
    HeadTooLarge,
    /// The HTTP head had more than `max_handshake_headers` headers.
    TooManyHeaders,
    /// The HTTP head could not be parsed.
    MalformedHttp(&'static str),
    /// The request or response broke an RFC 6455 rule; the text says which.
    InvalidHandshake(&'static str),
    /// Server: the request is not GET.
    MethodNotAllowed,
    /// Server: `Sec-WebSocket-Version` is missing or not 13.
    UnsupportedVersion,
    /// Client: the server answered with something other than 101; here is its answer
    /// (body bounded by `max_handshake_size`).
    Rejected(alloc::boxed::Box<http::Response<bytes::Bytes>>),
    /// Client: the server chose a subprotocol we did not offer.
    UnofferedSubprotocol(String),
    /// Client: the server accepted an extension we did not offer.
    UnofferedExtension(String),
    /// An extension's negotiation failed (malformed or duplicate parameters).
    Extension(String),
    /// The request URI is not a usable `ws://` or `wss://` URI.
    InvalidUri(&'static str),
    /// Server: the application chose a subprotocol the client did not offer.
    SubprotocolNotOffered(String),
    /// Server: `accept` or `reject` was called when no request is waiting for an answer.
    NoPendingRequest,
    /// A header name or value could not be represented.
    InvalidHeader,
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::Timeout => f.write_str("handshake timed out"),
            HandshakeError::UnexpectedEof => f.write_str("connection closed during the handshake"),
            HandshakeError::HeadTooLarge => f.write_str("HTTP head too large"),
            HandshakeError::TooManyHeaders => f.write_str("too many HTTP headers"),
            HandshakeError::MalformedHttp(why) => write!(f, "malformed HTTP: {why}"),
            HandshakeError::InvalidHandshake(why) => write!(f, "invalid handshake: {why}"),
            HandshakeError::MethodNotAllowed => f.write_str("method is not GET"),
            HandshakeError::UnsupportedVersion => f.write_str("Sec-WebSocket-Version is not 13"),
            HandshakeError::Rejected(response) => {
                write!(f, "server refused the upgrade: {}", response.status())
            }
            HandshakeError::UnofferedSubprotocol(p) => {
                write!(f, "server chose a subprotocol we did not offer: {p}")
            }
            HandshakeError::UnofferedExtension(e) => {
                write!(f, "server accepted an extension we did not offer: {e}")
            }
            HandshakeError::Extension(why) => write!(f, "extension negotiation failed: {why}"),
            HandshakeError::InvalidUri(why) => write!(f, "invalid WebSocket URI: {why}"),
            HandshakeError::SubprotocolNotOffered(p) => {
                write!(f, "subprotocol {p} was not offered by the client")
            }
            HandshakeError::NoPendingRequest => f.write_str("no request is waiting for an answer"),
            HandshakeError::InvalidHeader => f.write_str("invalid header name or value"),
        }
    }
}

impl std::error::Error for HandshakeError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6455_sample_key() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn tokens_are_case_insensitive_comma_lists_across_repeated_headers() {
        let mut h = HeaderMap::new();
        h.append("connection", "keep-alive, Upgrade".parse().unwrap());
        h.append("connection", "x".parse().unwrap());
        assert!(has_token(&h, "connection", "upgrade"));
        assert!(!has_token(&h, "connection", "close"));
        assert_eq!(tokens(&h, "connection"), ["keep-alive", "Upgrade", "x"]);
    }
}
