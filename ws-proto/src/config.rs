//! Limits and timers of a connection, with the reason for every default.

use core::time::Duration;

/// Connection settings. Start from [`Config::default()`] and change fields:
///
/// ```
/// let mut config = ws_proto::Config::default();
/// config.max_message_size = 1 << 20;
/// config.keepalive_interval = None;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Largest payload of one received frame, checked from the frame header before any of the
    /// payload is buffered. Bigger frames fail the connection with 1009.
    ///
    /// Default 16 MiB: the largest single frame the Autobahn TestSuite sends (case 9.1.6), and
    /// tungstenite's default.
    pub max_frame_size: usize,
    /// Largest received message (all its fragments), checked from each frame header before the
    /// payload is buffered. Bigger messages fail the connection with 1009. Also bounds a message
    /// received in fragment-streaming mode.
    ///
    /// Default 64 MiB, tungstenite's default: large enough for Autobahn's 16 MiB messages in any
    /// fragmentation, small enough that one peer cannot take gigabytes.
    pub max_message_size: usize,
    /// Answer every Ping with a Pong automatically (the Ping is still reported as an event).
    ///
    /// Default on, as in every mainstream library; turn it off to answer with
    /// [`Connection::send_pong`](crate::Connection::send_pong) yourself.
    pub auto_pong: bool,
    /// Deliver each data frame as an [`Event::Fragment`](crate::Event::Fragment) as soon as it is
    /// complete, instead of assembling whole messages. Memory then holds one frame, not a message.
    ///
    /// Default off: whole messages are what applications want.
    pub stream_fragments: bool,
    /// How long to wait for the peer's Close after sending ours. When it expires the socket is
    /// closed and the connection reported unclean (1006).
    ///
    /// Default 10 s (Python `websockets` uses 10 s, Node `ws` 30 s): a live peer answers within a
    /// round trip plus the time to finish a message it is sending; a peer that has not answered
    /// in 10 s is not going to, and every second longer holds a socket for nothing.
    pub close_timeout: Duration,
    /// Client only: how long to wait, after the close handshake is complete, for the server to close
    /// TCP (RFC 6455 section 7.1.1 has the server close first). When it expires the client closes
    /// the socket itself; the close still counts as clean.
    ///
    /// Default 2 s: a conforming server closes TCP right after sending its Close, so the FIN is
    /// at most a round trip behind; waiting longer only matters for broken servers.
    pub client_eof_timeout: Duration,
    /// Send a Ping this long after the previous keepalive Ping was answered (or after opening), to
    /// detect dead peers and keep NAT and proxy mappings alive. `None` (or zero) disables keepalive.
    ///
    /// Default 20 s, as Python `websockets`: well under the 60 s idle timeouts common in
    /// proxies and load balancers (nginx `proxy_read_timeout`, AWS ALB).
    pub keepalive_interval: Option<Duration>,
    /// How long a keepalive Ping may go unanswered before the peer is declared dead: the
    /// connection sends Close 1011 and closes the socket at once, without waiting for a Close back.
    ///
    /// Default 20 s, as Python `websockets`: a dead peer is detected within interval + timeout
    /// (40 s); a live peer on a slow mobile link is rarely silent that long.
    pub keepalive_timeout: Duration,
    /// How long the opening handshake may take, from the first byte of the connection to the end
    /// of the peer's HTTP head. A server answers 408 and closes; a client gives up.
    ///
    /// Default 10 s (Python `websockets`' `open_timeout`): stops slowloris clients that send a
    /// header byte at a time, while leaving slow mobile links several round trips.
    pub handshake_timeout: Duration,
    /// Largest HTTP head (request line or status line plus headers) accepted in the handshake.
    /// A server answers 431 to bigger requests.
    ///
    /// Default 16 KiB: browsers send well under 4 KiB even with cookies; common proxies cap
    /// heads at 8-16 KiB.
    pub max_handshake_size: usize,
    /// Most headers accepted in the handshake's HTTP head. A server answers 431 beyond it.
    ///
    /// Default 100, hyper's default: browsers send about 15-20.
    pub max_handshake_headers: usize,
    /// permessage-deflate (RFC 7692): `Some` to offer it (client) or accept it (server) in the
    /// handshake, with what to ask for and how to compress.
    ///
    /// Default `None` in the core, which leaves the choice to the embedder; the runtime adapters
    /// turn it on by default, as browsers, Node `ws` and Python `websockets` do.
    #[cfg(feature = "deflate")]
    pub deflate: Option<crate::deflate::DeflateConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_frame_size: 16 << 20,
            max_message_size: 64 << 20,
            auto_pong: true,
            stream_fragments: false,
            close_timeout: Duration::from_secs(10),
            client_eof_timeout: Duration::from_secs(2),
            keepalive_interval: Some(Duration::from_secs(20)),
            keepalive_timeout: Duration::from_secs(20),
            handshake_timeout: Duration::from_secs(10),
            max_handshake_size: 16 * 1024,
            max_handshake_headers: 100,
            #[cfg(feature = "deflate")]
            deflate: None,
        }
    }
}

/// What an open [`Connection`](crate::Connection) consults of its [`Config`], packed. Every
/// connection carries it for its whole life, while most of a `Config` (136 B) serves the
/// handshake or the reader's limits, which the reader copies: this is 80 B less per connection.
/// Durations are kept as nanoseconds (8 B each instead of 16), saturating at 584 years.
#[derive(Clone, Debug)]
pub(crate) struct RunSettings {
    close_timeout: u64,
    client_eof_timeout: u64,
    /// Zero: keepalive off.
    keepalive_interval: u64,
    keepalive_timeout: u64,
    pub(crate) auto_pong: bool,
    #[cfg(feature = "deflate")]
    pub(crate) deflate: Option<crate::deflate::DeflateConfig>,
}

impl RunSettings {
    pub(crate) fn new(config: &Config) -> RunSettings {
        RunSettings {
            close_timeout: nanos(config.close_timeout),
            client_eof_timeout: nanos(config.client_eof_timeout),
            keepalive_interval: config.keepalive_interval.map_or(0, nanos),
            keepalive_timeout: nanos(config.keepalive_timeout),
            auto_pong: config.auto_pong,
            #[cfg(feature = "deflate")]
            deflate: config.deflate.clone(),
        }
    }

    /// [`Config::close_timeout`].
    pub(crate) fn close_timeout(&self) -> Duration {
        Duration::from_nanos(self.close_timeout)
    }

    /// [`Config::client_eof_timeout`].
    pub(crate) fn client_eof_timeout(&self) -> Duration {
        Duration::from_nanos(self.client_eof_timeout)
    }

    /// The keepalive interval, if keepalive is on ([`Config::keepalive_interval`], zero is off).
    pub(crate) fn keepalive(&self) -> Option<Duration> {
        (self.keepalive_interval != 0).then(|| Duration::from_nanos(self.keepalive_interval))
    }

    /// [`Config::keepalive_timeout`].
    pub(crate) fn keepalive_timeout(&self) -> Duration {
        Duration::from_nanos(self.keepalive_timeout)
    }
}

/// `d` in nanoseconds, saturating.
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
