//! permessage-deflate (RFC 7692): negotiation in the opening handshake and the codec that
//! compresses outgoing and inflates incoming messages.
//!
//! Turn it on with [`Config::deflate`](crate::Config::deflate); the handshake machines then offer
//! (client) or accept (server) the extension and hand over a [`Connection`](crate::Connection)
//! that compresses messages of at least [`DeflateConfig::threshold`] bytes and inflates the
//! peer's compressed messages. With a handshake done elsewhere, negotiate with
//! [`server_negotiate`] / [`client_offer`] + [`client_accept`] and start the connection with
//! [`Connection::with_deflate`](crate::Connection::with_deflate).
//!
//! # Memory
//!
//! Compression state is created on the first message that needs it, so a connection that only
//! exchanges small messages holds none. Measured with zlib-rs (`cargo bench -p ws-proto --bench
//! deflate`): a compressor at 15 window bits holds about 375 KiB (window, hash chains, pending
//! buffer; less at fewer window bits) and an inflater about 47 KiB (state plus a window of
//! `2^bits` bytes). With context takeover that state
//! lives as long as the connection (it *is* the shared dictionary). Where no context takeover was
//! agreed for a direction, its state is freed after every message, so an idle connection holds
//! nothing for it: `server_no_context_takeover` frees the server's compressor and the client's
//! inflater, `client_no_context_takeover` the client's compressor and the server's inflater.
//!
//! A decompression bomb cannot take more than the limits: inflated bytes count against
//! `max_message_size` as they are produced, and inflating stops with 1009 at the limit.

mod codec;
mod negotiate;

pub(crate) use codec::{Deflater, InflateError, Inflater};
pub use negotiate::{client_accept, client_offer, server_negotiate};

/// The extension's registered name.
pub const EXTENSION_NAME: &str = "permessage-deflate";

/// What this endpoint asks for and accepts when negotiating permessage-deflate, and how it
/// compresses.
///
/// The `server_*` fields are about the server's compressor (the server-to-client direction), the
/// `client_*` fields about the client's. A server imposes `server_*` on itself and asks the
/// client for `client_*` (it declines offers that cannot honour a `client_max_window_bits` below
/// 15); a client requests `server_*` from the server and announces `client_*` for itself.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateConfig {
    /// zlib compression level, 0 (store) to 9 (best).
    ///
    /// Default 6, zlib's default and what Node `ws` and Python `websockets` use.
    pub level: u32,
    /// Messages shorter than this are sent uncompressed: for small payloads the deflate overhead
    /// costs more CPU than the bytes it saves.
    ///
    /// Default 1024 bytes, Node `ws`'s `threshold`.
    pub threshold: usize,
    /// Largest LZ77 window (base-2 logarithm, 8 to 15) for the server's compressor.
    ///
    /// Default 15 (32 KiB, the most compression). Lower it to save server memory per connection.
    pub server_max_window_bits: u8,
    /// Largest LZ77 window (8 to 15) for the client's compressor.
    ///
    /// Default 15.
    pub client_max_window_bits: u8,
    /// The server resets its compressor after every message (frees it between messages).
    ///
    /// Default off: context takeover compresses chatty streams of similar messages far better.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after every message.
    ///
    /// Default off.
    pub client_no_context_takeover: bool,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            level: 6,
            threshold: 1024,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
        }
    }
}

/// The parameters both sides agreed on in the handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeflateParams {
    /// The server resets its compressor after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after each message.
    pub client_no_context_takeover: bool,
    /// The window the server compresses with at most (8 to 15).
    pub server_max_window_bits: u8,
    /// The window the client compresses with at most (8 to 15).
    pub client_max_window_bits: u8,
}

impl Default for DeflateParams {
    /// What `permessage-deflate` without parameters means.
    fn default() -> Self {
        DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    }
}
