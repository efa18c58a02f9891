//! Adapter settings: the protocol core's, plus what only a driver with a socket has.

/// Settings for a WebSocket driven by an adapter.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// The protocol core's limits and timers (keepalive, close timeout, handshake timeout, ...).
    ///
    /// Default: the core's defaults, with permessage-deflate on (`protocol.deflate`; set it to
    /// `None` to neither offer nor accept compression).
    pub protocol: ws_proto::Config,
    /// Write backpressure: `Sink::poll_ready` waits, and reading pauses, while more than this many
    /// bytes are queued for the socket. Pausing reads is what stops a peer that floods us with
    /// Pings while never reading our Pongs.
    ///
    /// Default 1 MiB: a few round trips of a fast link; a single larger message is still accepted
    /// (the check is before each send, not on its size).
    pub write_high_water_mark: usize,
    /// Bytes read from the socket per read call.
    ///
    /// Default 256 KiB: one syscall takes several queued frames of up to the core's direct-read
    /// size (256 KiB; larger frames are read straight into their message buffers). With 64 KiB
    /// reads, and 16 KiB frames read one per syscall, an echo of 16 KiB messages cost a fifth
    /// more server CPU. The buffer is shared by every connection polled on the same thread (the
    /// core copies what it keeps), so it costs nothing per connection. Over a transport that reads
    /// into unzeroed memory (tokio), a message that arrives whole and fills at least a
    /// quarter of this size is handed out as a slice of the buffer instead of a copy: while the
    /// application keeps it, it holds the buffer (at most 4x its size) and the thread reads into
    /// a new one.
    pub read_buffer_size: usize,
    /// Received messages queued for the application before reading pauses (backpressure
    /// toward a peer that sends faster than the application consumes).
    ///
    /// Default 64.
    pub max_queued_messages: usize,
    /// Counters shared by every connection given the same monitor (live counts per state,
    /// outcomes, close codes, time in CLOSING, lifetimes), and the handle for shutting them all
    /// down. Default none.
    pub monitor: Option<crate::Monitor>,
}

/// [`Config`] without the protocol settings (the core has them): what a driver keeps of the
/// configuration while handshaking and once open.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) write_high_water_mark: usize,
    pub(crate) read_buffer_size: usize,
    pub(crate) max_queued_messages: usize,
    pub(crate) monitor: Option<crate::Monitor>,
}

impl Config {
    /// The protocol settings for the core, and the rest for the driver.
    pub(crate) fn split(self) -> (ws_proto::Config, Settings) {
        let Config {
            protocol,
            write_high_water_mark,
            read_buffer_size,
            max_queued_messages,
            monitor,
        } = self;
        let settings = Settings {
            write_high_water_mark,
            read_buffer_size,
            max_queued_messages,
            monitor,
        };
        (protocol, settings)
    }
}

/// The core's defaults with permessage-deflate on, as browsers, Node `ws` and Python
/// `websockets` have it: negotiated only when the peer offers or accepts it.
fn default_protocol() -> ws_proto::Config {
    let mut protocol = ws_proto::Config::default();
    protocol.deflate = Some(ws_proto::deflate::DeflateConfig::default());
    protocol
}

impl Default for Config {
    fn default() -> Self {
        Config {
            protocol: default_protocol(),
            write_high_water_mark: 1 << 20,
            read_buffer_size: 256 * 1024,
            max_queued_messages: 64,
            monitor: None,
        }
    }
}
