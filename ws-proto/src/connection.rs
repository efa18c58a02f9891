//! The connection state machine: the close handshake, keepalive and the timers that bound them.
//!
//! The phases and their exits (RFC 6455 section 7; `DESIGN.md`'s close table):
//!
//! ```text
//!            close()                      peer Close                     EOF / timer
//!  Open ──────────────────> CloseSent ──────────────────> [server] Closed
//!    │                          │                         [client] AwaitingServerEof ──> Closed
//!    │ peer Close: echo it      │ close_timeout, EOF              (client_eof_timeout)
//!    ├──> [server] Closed       └──> Closed (unclean)
//!    ├──> [client] AwaitingServerEof
//!    │ protocol error: send Close(code)
//!    ├──> [server] Closed
//!    ├──> [client] Failed ──(server's EOF or close_timeout)──> Closed
//!    │ keepalive timeout: send Close(1011)
//!    └──> Closed (dead peer)          terminate() or transport error: any phase ──> Closed
//! ```
//!
//! The server never waits for the client's FIN: once a Close went each way it shuts down its write
//! side and closes the socket (RFC 6455 section 7.1.1). A client waits for the server's FIN,
//! bounded by `client_eof_timeout`.

use crate::close::{CloseCode, CloseFrame, MAX_REASON_LEN};
use crate::codec::Deflater;
use crate::config::RunSettings;
use crate::error::{CommandError, ProtocolError};
use crate::event::{Action, Closed, Compression, Event, Initiator, MessageKind, Outcome};
use crate::frame::{OpCode, MAX_CONTROL_PAYLOAD};
use crate::mask::{MaskSource, NoMask};
use crate::output::{OutputQueue, Polled};
use crate::reader::{Incoming, Reader, IN_PLACE_FLOOR, IN_PLACE_SHARE};
use crate::state::{Role, State};
use crate::text::Utf8Bytes;
use crate::transmit::TransmitBuf;
use crate::utf8::Utf8Validator;
use crate::{Config, Instant};
use alloc::boxed::Box;
use alloc::vec::Vec;
use bytes::{Buf, Bytes, BytesMut};

/// Where the connection is in its life; each phase owns the timer that bounds it.
#[derive(Debug)]
enum Phase {
    /// Messages flow both ways; keepalive runs.
    Open(Keepalive),
    /// We sent Close; waiting for the peer's, until `deadline`.
    CloseSent { deadline: Instant },
    /// Client only: a Close went each way; waiting for the server to end TCP, until `deadline`.
    AwaitingServerEof { deadline: Instant },
    /// Client only: the server broke the protocol and we sent Close; input is ignored while we
    /// wait for the server to end TCP, until `deadline`.
    Failed {
        error: ProtocolError,
        deadline: Instant,
    },
    /// The socket is released and `Closed` emitted.
    Closed,
}

/// Keepalive: a Ping every `interval`, declared dead if one goes unanswered for `timeout`.
#[derive(Debug)]
struct Keepalive {
    /// When to send the next Ping (`None`: keepalive off, or a Ping is outstanding).
    next_ping: Option<Instant>,
    /// The outstanding Ping, if any.
    outstanding: Option<OutstandingPing>,
    /// Ping payloads are a counter, so a Pong can be matched to its Ping.
    counter: u32,
}

impl Keepalive {
    /// Records a Ping sent at `now` and returns its payload. With a zero `timeout` there is no
    /// dead-peer detection: Pings just keep flowing every `interval`.
    fn start_ping(
        &mut self,
        now: Instant,
        interval: core::time::Duration,
        timeout: core::time::Duration,
    ) -> [u8; 4] {
        self.counter = self.counter.wrapping_add(1);
        let payload = self.counter.to_be_bytes();
        if timeout.is_zero() {
            self.next_ping = Some(now + interval);
        } else {
            self.next_ping = None;
            self.outstanding = Some(OutstandingPing {
                payload,
                sent_at: now,
                deadline: now + timeout,
            });
        }
        payload
    }

    /// Bytes arrived: the peer is alive even if its Pong is stuck behind a large message it is
    /// still sending, so the wait for the Pong restarts.
    fn bytes_received(&mut self, now: Instant, timeout: core::time::Duration) {
        if let Some(ping) = &mut self.outstanding {
            ping.deadline = ping.deadline.max(now + timeout);
        }
    }

    /// A Pong arrived: if it answers the outstanding Ping, schedule the next one an interval after
    /// that Ping was sent (and not in the past). Unsolicited Pongs change nothing.
    fn pong_received(
        &mut self,
        now: Instant,
        payload: &[u8],
        interval: Option<core::time::Duration>,
    ) {
        if let Some(ping) = &self.outstanding {
            if payload == ping.payload {
                self.next_ping = interval.map(|interval| (ping.sent_at + interval).max(now));
                self.outstanding = None;
            }
        }
    }
}

#[derive(Debug)]
struct OutstandingPing {
    payload: [u8; 4],
    sent_at: Instant,
    deadline: Instant,
}

/// A fragmented message we are sending.
#[derive(Debug)]
struct OutgoingMessage {
    kind: MessageKind,
    utf8: Utf8Validator,
    /// Its fragments go through the compressor (decided by the first fragment).
    compressed: bool,
}

/// RSV1 on a message's first frame: the message is compressed (RFC 7692 section 6).
const RSV1: u8 = 0b100;

/// From this many bytes on, a server writes an owned payload from the application's buffer
/// (a vectored write) instead of copying it after its header: below it, the copy costs less
/// than a separate segment.
const SHARE_MIN_LEN: usize = 4096;

/// A WebSocket connection after the opening handshake: a pure state machine.
///
/// The methods fall in four groups:
/// - **getters**: [`state`](Self::state), [`role`](Self::role),
///   [`buffered_amount`](Self::buffered_amount), [`receive_buffered`](Self::receive_buffered),
///   [`close_sent`](Self::close_sent), [`close_received`](Self::close_received);
/// - **handlers**, for what happened on the socket and the clock:
///   [`handle_read`](Self::handle_read), [`handle_eof`](Self::handle_eof),
///   [`handle_timeout`](Self::handle_timeout), [`handle_written`](Self::handle_written),
///   [`handle_transport_error`](Self::handle_transport_error). They never fail: a misbehaving peer
///   makes the connection close with the right code and report why in [`Event::Closed`];
/// - **commands**, for what the application wants: [`send_text`](Self::send_text),
///   [`send_binary`](Self::send_binary), [`send_fragment`](Self::send_fragment),
///   [`send_ping`](Self::send_ping), [`send_pong`](Self::send_pong), [`close`](Self::close),
///   [`terminate`](Self::terminate). Local misuse returns a [`CommandError`] and queues nothing;
/// - **outputs**: drain [`poll`](Self::poll) until `None` after every handler or command, then
///   arm a timer at [`poll_timeout`](Self::poll_timeout).
pub struct Connection {
    role: Role,
    settings: RunSettings,
    phase: Phase,
    reader: Reader,
    out: OutputQueue,
    masks: Box<dyn MaskSource + Send>,
    /// Boxed: fragmented sending is rare, and every connection would carry its 24 bytes.
    outgoing: Option<Box<OutgoingMessage>>,
    /// Compresses outgoing messages, when permessage-deflate was negotiated.
    deflater: Option<Box<Deflater>>,
    /// The Close frames, once sent and received: boxed, as every open connection carries the
    /// fields and few ever hold a frame in them (48 B less per connection).
    sent_close: Option<Box<CloseFrame>>,
    received_close: Option<Box<CloseFrame>>,
    initiator: Initiator,
    /// A protocol error found in the input but not yet acted on: reading has stopped, and the
    /// connection fails when `poll` reaches the events that preceded the bad frame.
    /// Boxed for the same reason as the Close frames.
    pending_failure: Option<Box<ProtocolError>>,
}

impl core::fmt::Debug for Connection {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.role)
            .field("phase", &self.phase)
            .field("buffered_amount", &self.buffered_amount())
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// A connection in the Open state, for `role`, starting at `now`.
    ///
    /// This is also the way in for upgrades done elsewhere (an HTTP server that already answered
    /// 101, or WebSocket over HTTP/2). `masks` supplies client masking keys; a server never uses it.
    pub fn new(
        role: Role,
        now: Instant,
        config: Config,
        masks: impl MaskSource + Send + 'static,
    ) -> Connection {
        let settings = RunSettings::new(&config);
        let keepalive = Keepalive {
            next_ping: settings.keepalive().map(|interval| now + interval),
            outstanding: None,
            counter: 0,
        };
        Connection {
            role,
            reader: Reader::new(role, &config),
            settings,
            phase: Phase::Open(keepalive),
            out: OutputQueue::default(),
            masks: Box::new(masks),
            outgoing: None,
            deflater: None,
            sent_close: None,
            received_close: None,
            initiator: Initiator::Neither,
            pending_failure: None,
        }
    }

    /// A server-side connection (servers never mask).
    pub fn server(now: Instant, config: Config) -> Connection {
        Connection::new(Role::Server, now, config, NoMask)
    }

    /// A client-side connection; `masks` must be unpredictable on a real network (see [`MaskSource`]).
    pub fn client(
        now: Instant,
        config: Config,
        masks: impl MaskSource + Send + 'static,
    ) -> Connection {
        Connection::new(Role::Client, now, config, masks)
    }

    /// Turns on permessage-deflate with the parameters agreed in the handshake (builder style).
    /// The handshake machines do this themselves; call it when the handshake was done elsewhere
    /// (see [`deflate::server_negotiate`](crate::deflate::server_negotiate)). Compression level and
    /// threshold come from [`Config::deflate`], or its defaults when that is `None`.
    #[cfg(feature = "deflate")]
    pub fn with_deflate(mut self, params: crate::deflate::DeflateParams) -> Connection {
        let config = self.settings.deflate.clone().unwrap_or_default();
        self.deflater = Some(Box::new(Deflater::new(self.role, &config, &params)));
        self.reader
            .enable_inflate(crate::deflate::Inflater::new(self.role, &params));
        self
    }

    /// Whether permessage-deflate is on.
    pub fn is_compressing(&self) -> bool {
        self.deflater.is_some()
    }

    /// Queues bytes to go out before any frame: the handshake's HTTP response.
    #[cfg(feature = "handshake")]
    pub(crate) fn queue_preface(&mut self, bytes: Vec<u8>) {
        self.out.preface(bytes);
    }

    // ----- getters -----

    /// Open, Closing or Closed (a `Connection` starts Open; see [`State::Connecting`]).
    pub fn state(&self) -> State {
        match self.phase {
            Phase::Open(_) => State::Open,
            Phase::CloseSent { .. } | Phase::AwaitingServerEof { .. } | Phase::Failed { .. } => {
                State::Closing
            }
            Phase::Closed => State::Closed,
        }
    }

    /// Client or server.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The configured [`Config::close_timeout`](crate::Config::close_timeout): how long the
    /// close handshake may take. Drivers bound the time a closing socket lingers to drain its
    /// output by it too.
    pub fn close_timeout(&self) -> core::time::Duration {
        self.settings.close_timeout()
    }

    /// Output bytes not yet written: queued in the connection, or handed out by [`poll`](Self::poll)
    /// and not yet reported through [`handle_written`](Self::handle_written). Use it for write
    /// backpressure (stop reading or sending above a high-water mark).
    pub fn buffered_amount(&self) -> usize {
        self.out.buffered_amount()
    }

    /// Bytes held for incoming frames and messages not yet complete (bounded by the limits).
    pub fn receive_buffered(&self) -> usize {
        self.reader.buffered()
    }

    /// Whether a protocol error was found in the input and will be acted on (Close sent) when
    /// `poll` gets past the events that arrived before the bad frame.
    ///
    /// Frames the application sends meanwhile are queued ahead of that Close. A driver that queues
    /// events for the application, instead of handing each one over as it is polled, should stop
    /// draining `poll` when [`failure_is_next`](Self::failure_is_next) while its queue still holds
    /// messages: the application can then answer them before the Close goes out.
    pub fn failure_pending(&self) -> bool {
        self.pending_failure.is_some()
    }

    /// Whether the next `poll` would act on the deferred protocol error (send our Close).
    pub fn failure_is_next(&self) -> bool {
        self.pending_failure.is_some() && self.out.failure_is_next()
    }

    /// Bytes allocated for incoming frames and messages not yet complete: what a peer can make
    /// this connection hold. Grows with payload received (geometrically, never past the frame
    /// the header announced), so it stays within about twice what arrived and within the limits.
    pub fn receive_allocated(&self) -> usize {
        self.reader.allocated()
    }

    /// The Close frame we sent, if any.
    pub fn close_sent(&self) -> Option<&CloseFrame> {
        self.sent_close.as_deref()
    }

    /// The Close frame we received, if any.
    pub fn close_received(&self) -> Option<&CloseFrame> {
        self.received_close.as_deref()
    }

    // ----- handlers -----

    /// Bytes read from the socket.
    pub fn handle_read(&mut self, now: Instant, data: &[u8]) {
        if !data.is_empty() && self.is_reading() {
            self.bytes_arrived(now);
        }
        self.decode(now, data);
    }

    /// Bytes read from the socket into a buffer the connection may take apart: as
    /// [`handle_read`](Self::handle_read), except that a text or binary message that arrived
    /// whole and fills at least a quarter of `data`'s capacity (and at least 4 KiB) is unmasked
    /// (text checked) where it lies and handed to the application as a slice of `data`, not
    /// copied. Such a message holds the buffer's allocation while the application keeps it: at
    /// most 4x its size. Everything else is copied out as `handle_read` does, so the rest holds
    /// only itself.
    ///
    /// `data` is left empty. Once the messages split off it are dropped, `BytesMut::reserve`
    /// reclaims the whole allocation for the next read without allocating; while one is held it
    /// allocates anew. For drivers that read into spare capacity without zero-filling it (tokio's
    /// `ReadBuf`); filling a buffer with zeroes before each read would cost what this saves.
    pub fn handle_read_buf(&mut self, now: Instant, data: &mut BytesMut) {
        let min = (data.capacity() / IN_PLACE_SHARE).max(IN_PLACE_FLOOR);
        if data.len() < min {
            // Too little to hold such a message (small messages, the usual case): the plain path.
            self.handle_read(now, data);
            data.clear();
            return;
        }
        if self.is_reading() {
            self.bytes_arrived(now);
        }
        while !data.is_empty() && self.is_reading() {
            if data.len() >= min {
                match self.reader.read_in_place(data, min) {
                    Some(Ok(item)) => {
                        self.on_incoming(now, item);
                        continue;
                    }
                    Some(Err(error)) => {
                        self.defer_failure(now, error);
                        continue;
                    }
                    None => {}
                }
            }
            // Anything else, up to the end of its frame, where the next may be taken in place.
            let step = self.reader.frame_end_within(data);
            self.decode(now, &data[..step]);
            data.advance(step);
        }
        data.clear();
    }

    /// Bytes arrived while reading: the keepalive's idle clock starts over.
    fn bytes_arrived(&mut self, now: Instant) {
        if let Phase::Open(keepalive) = &mut self.phase {
            keepalive.bytes_received(now, self.settings.keepalive_timeout());
        }
    }

    /// Decodes `data` and acts on what it completes, until it is used up or reading stops.
    fn decode(&mut self, now: Instant, mut data: &[u8]) {
        while !data.is_empty() && self.is_reading() {
            let (used, result) = self.reader.read(data);
            data = data.get(used..).unwrap_or_default();
            match result {
                Ok(Some(item)) => self.on_incoming(now, item),
                Ok(None) => {}
                Err(error) => self.defer_failure(now, error),
            }
        }
    }

    /// Where the next socket read may go directly, while a large data frame's payload is being
    /// received: a zero-filled part of the message buffer, at most the rest of the frame plus,
    /// when the read can complete the frame, room for the next frame's header (bytes read there
    /// are decoded as if passed to [`handle_read`](Self::handle_read)). Reading there instead of
    /// into the driver's own buffer saves copying every payload byte, and allows reads as large
    /// as the frame, each bringing the next header along. Report what was read with
    /// [`handle_payload_read`](Self::handle_payload_read); if nothing was read, the window is
    /// simply kept for the next call. `None` (read as usual, into any buffer, and hand it to
    /// [`handle_read`](Self::handle_read)) at frame boundaries, for control frames, compressed
    /// messages, frames under 256 KiB (several of them arrive in one ordinary read, which costs
    /// less than a read per frame), small remainders, and once reading has stopped.
    pub fn payload_buffer(&mut self) -> Option<&mut [u8]> {
        if !self.is_reading() {
            return None;
        }
        self.reader.direct_window()
    }

    /// At most how many bytes the next read into the driver's own buffer should take (`None`:
    /// any number). While large data frames flow it is the rest of the current frame plus one
    /// frame header: reading more would pull the next frame's payload into the driver's buffer,
    /// to be copied from there, where the next [`payload_buffer`](Self::payload_buffer) call
    /// offers to read it straight into its message. Ignoring it is correct, only slower for
    /// large messages.
    pub fn read_limit(&self) -> Option<usize> {
        self.reader.read_limit()
    }

    /// `n` bytes were read into the buffer [`payload_buffer`](Self::payload_buffer) returned
    /// (`n` of 0 is not end of stream here: call [`handle_eof`](Self::handle_eof) for that).
    pub fn handle_payload_read(&mut self, now: Instant, n: usize) {
        if n == 0 || !self.is_reading() {
            return;
        }
        self.bytes_arrived(now);
        let (result, next_header) = self.reader.direct_commit(n);
        match result {
            Ok(Some(item)) => self.on_incoming(now, item),
            Ok(None) => {}
            Err(error) => self.defer_failure(now, error),
        }
        self.decode(now, next_header.as_slice());
    }

    /// The peer ended its side of the transport (TCP FIN, `read` returned 0).
    pub fn handle_eof(&mut self, now: Instant) {
        self.apply_pending_failure(now);
        let outcome = match self.phase {
            Phase::Open(_) | Phase::CloseSent { .. } => Outcome::UnexpectedEof,
            Phase::AwaitingServerEof { .. } => Outcome::Clean,
            Phase::Failed { error, .. } => Outcome::ProtocolError(error),
            Phase::Closed => return,
        };
        self.release(outcome);
    }

    /// Time has passed: fire every timer due at `now`. Spurious calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.apply_pending_failure(now);
        let outcome = match &mut self.phase {
            Phase::Open(keepalive) => {
                match &keepalive.outstanding {
                    Some(ping) if now >= ping.deadline => self.dead_peer(),
                    None if keepalive.next_ping.is_some_and(|at| now >= at) => {
                        let interval = self.settings.keepalive().unwrap_or_default();
                        let payload =
                            keepalive.start_ping(now, interval, self.settings.keepalive_timeout());
                        self.frame(OpCode::Ping, &payload);
                    }
                    _ => {}
                }
                return;
            }
            Phase::CloseSent { deadline } if now >= *deadline => Outcome::CloseTimeout,
            Phase::AwaitingServerEof { deadline } if now >= *deadline => Outcome::EofTimeout,
            Phase::Failed { error, deadline } if now >= *deadline => Outcome::ProtocolError(*error),
            _ => return,
        };
        self.release(outcome);
    }

    /// The driver wrote `n` bytes of what [`poll`](Self::poll) handed out (only feeds
    /// [`buffered_amount`](Self::buffered_amount)).
    pub fn handle_written(&mut self, n: usize) {
        self.out.written(n);
    }

    /// Reading or writing the socket failed (reset, broken pipe): the connection is over.
    pub fn handle_transport_error(&mut self, _now: Instant) {
        if !matches!(self.phase, Phase::Closed) {
            self.pending_failure = None;
            self.out.discard_unsent();
            self.release(Outcome::TransportError);
        }
    }

    // ----- commands -----

    /// Sends a whole text message (compressed if permessage-deflate is on and it is at least the
    /// threshold long).
    pub fn send_text(&mut self, text: &str) -> Result<(), CommandError> {
        self.send_message(OpCode::Text, text.as_bytes(), Compression::Auto)
    }

    /// Sends a whole binary message (compressed as [`send_text`](Self::send_text)).
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), CommandError> {
        self.send_message(OpCode::Binary, data, Compression::Auto)
    }

    /// Sends a whole text message, choosing whether it is compressed (Node `ws`'s
    /// `send(data, { compress })`).
    pub fn send_text_with(
        &mut self,
        text: &str,
        compression: Compression,
    ) -> Result<(), CommandError> {
        self.send_message(OpCode::Text, text.as_bytes(), compression)
    }

    /// Sends a whole binary message, choosing whether it is compressed:
    /// [`Compression::Never`] for data that is already compressed (images, video).
    pub fn send_binary_with(
        &mut self,
        data: &[u8],
        compression: Compression,
    ) -> Result<(), CommandError> {
        self.send_message(OpCode::Binary, data, compression)
    }

    /// Sends a whole binary message the application hands over (compressed as
    /// [`send_text`](Self::send_text) when `compression` allows). A server writes a large
    /// uncompressed payload from `data` itself, without copying it (see [`Transmit`]).
    ///
    /// [`Transmit`]: crate::Transmit
    pub fn send_binary_owned(
        &mut self,
        data: Bytes,
        compression: Compression,
    ) -> Result<(), CommandError> {
        self.send_message_owned(OpCode::Binary, data, compression)
    }

    /// Sends a whole text message the application hands over (a `String`, a received
    /// message's [`Utf8Bytes`]); like [`send_binary_owned`](Self::send_binary_owned).
    pub fn send_text_owned(
        &mut self,
        text: impl Into<Utf8Bytes>,
        compression: Compression,
    ) -> Result<(), CommandError> {
        self.send_message_owned(OpCode::Text, text.into().into_bytes(), compression)
    }

    /// Sends one fragment of a message; the first fragment's `kind` starts the message, `fin`
    /// ends it. Text fragments may split code points, but together must be valid UTF-8.
    /// Control frames and `close()` may be interleaved; whole messages may not.
    pub fn send_fragment(
        &mut self,
        kind: MessageKind,
        data: &[u8],
        fin: bool,
    ) -> Result<(), CommandError> {
        self.check_open()?;
        let (opcode, mut utf8, compressed) = match &self.outgoing {
            Some(message) if message.kind != kind => {
                return Err(CommandError::FragmentKindMismatch {
                    in_progress: message.kind,
                })
            }
            Some(message) => (
                OpCode::Continuation,
                message.utf8.clone(),
                message.compressed,
            ),
            None => (
                opcode_of(kind),
                Utf8Validator::new(),
                self.deflater
                    .as_ref()
                    .is_some_and(|d| d.wants(data.len(), Compression::Auto)),
            ),
        };
        if kind == MessageKind::Text {
            utf8.feed(data).map_err(|_| CommandError::InvalidUtf8)?;
            if fin && !utf8.is_complete() {
                return Err(CommandError::InvalidUtf8);
            }
        }
        self.data_frame(fin, opcode, data, compressed)?;
        match (fin, self.outgoing.as_deref_mut()) {
            (true, _) => self.outgoing = None,
            (false, Some(message)) => message.utf8 = utf8,
            (false, None) => {
                self.outgoing = Some(Box::new(OutgoingMessage {
                    kind,
                    utf8,
                    compressed,
                }))
            }
        }
        Ok(())
    }

    /// Sends a message encoded once for many connections (broadcast): a server queues the
    /// prepared frame's bytes as they are; a client masks a fresh copy. Never compressed, even
    /// with permessage-deflate on (an uncompressed message is always allowed).
    pub fn send_prepared(&mut self, message: &crate::PreparedMessage) -> Result<(), CommandError> {
        self.check_open()?;
        if self.outgoing.is_some() {
            return Err(CommandError::FragmentedMessageInProgress);
        }
        match self.role {
            Role::Server if message.frame().len() >= SHARE_MIN_LEN => {
                self.out.shared_encoded(message.frame_bytes().clone())
            }
            Role::Server => self.out.encoded(message.frame()),
            Role::Client => {
                let opcode = opcode_of(message.kind());
                self.data_frame(true, opcode, message.payload(), false)?;
            }
        }
        Ok(())
    }

    /// Sends a Ping (payload at most 125 bytes).
    pub fn send_ping(&mut self, payload: &[u8]) -> Result<(), CommandError> {
        self.send_control(OpCode::Ping, payload)
    }

    /// Sends a Pong (payload at most 125 bytes); an unsolicited Pong is a valid heartbeat.
    pub fn send_pong(&mut self, payload: &[u8]) -> Result<(), CommandError> {
        self.send_control(OpCode::Pong, payload)
    }

    /// Starts the close handshake: sends Close(`code`, `reason`) and waits for the peer's Close,
    /// at most `close_timeout` after `now`. Messages that arrive meanwhile are still delivered.
    ///
    /// Calling it again while closing or closed does nothing. `code` must be one that may be
    /// sent ([`CloseCode::is_valid_on_wire`]), or [`CloseCode::NO_STATUS`] with an empty reason
    /// for a Close frame without a code (tungstenite's `close(None)`); `reason` is at most 123
    /// bytes.
    pub fn close(
        &mut self,
        now: Instant,
        code: CloseCode,
        reason: &str,
    ) -> Result<(), CommandError> {
        let empty_close = code == CloseCode::NO_STATUS && reason.is_empty();
        if !code.is_valid_on_wire() && !empty_close {
            return Err(CommandError::InvalidCloseCode(code));
        }
        if reason.len() > MAX_REASON_LEN {
            return Err(CommandError::CloseReasonTooLong(reason.len()));
        }
        if let Phase::Open(_) = self.phase {
            self.initiator = Initiator::Local;
            self.send_close(CloseFrame::new(code, reason));
            self.phase = Phase::CloseSent {
                deadline: now + self.settings.close_timeout(),
            };
        }
        Ok(())
    }

    /// Drops the connection at once, in any state: unsent frames are discarded, the socket is
    /// closed and `Closed` reports 1006, not clean, [`Outcome::Terminated`]. Events already queued
    /// (messages received before) are still delivered first.
    pub fn terminate(&mut self) {
        if !matches!(self.phase, Phase::Closed) {
            self.pending_failure = None;
            self.out.discard_unsent();
            self.release(Outcome::Terminated);
        }
    }

    /// Frees buffer capacity kept for reuse beyond `keep` bytes: the output buffer a busy
    /// connection recycles between batches and the output queue's storage. Call it when the
    /// connection goes idle (nothing to read or write) to keep idle connections small; `keep` 0
    /// frees all of it. It never affects data.
    pub fn shrink_buffers(&mut self, keep: usize) {
        self.out.shrink(keep);
    }

    /// Hands back memory to receive a later large frame into, such as a large message the
    /// driver finished writing ([`Transmit::take_reusable`]): an echo or relay then receives
    /// into memory already in use instead of fresh pages. Kept until
    /// [`release_recycled_buffer`](Self::release_recycled_buffer); the contents are never read.
    ///
    /// [`Transmit::take_reusable`]: crate::Transmit::take_reusable
    pub fn recycle_buffer(&mut self, buf: Vec<u8>) {
        self.reader.recycle(buf);
    }

    /// Capacity of the buffers kept for reuse: those handed to
    /// [`recycle_buffer`](Self::recycle_buffer), and sent payloads the connection copied into
    /// frames and took back (`send` with `Bytes` the application no longer holds).
    pub fn recycled_capacity(&self) -> usize {
        self.reader.recycled_capacity()
    }

    /// Frees the buffers kept for reuse ([`recycled_capacity`](Self::recycled_capacity)); the
    /// connection has been idle for a while.
    pub fn release_recycled_buffer(&mut self) {
        self.reader.release_recycled();
    }

    // ----- outputs -----

    /// The next action, appending any bytes to transmit to `buf`. Call until it returns `None`.
    ///
    /// `buf` is a `Vec<u8>` (everything copied into one buffer) or a [`Transmit`] (large
    /// payloads the application handed over stay separate segments, for a vectored write).
    ///
    /// [`Transmit`]: crate::Transmit
    pub fn poll<B: TransmitBuf + ?Sized>(&mut self, buf: &mut B) -> Option<Action> {
        self.next_action(|out| out.poll(buf))
    }

    /// [`poll`](Self::poll) for a driver that hands events to the application when it asks
    /// (a `Stream`), not as they come: the next thing for the driver to act on (bytes to write,
    /// [`Action::ShutdownWrite`], [`Action::CloseSocket`], and [`Event::Closed`] as
    /// `Action::Event`), passing over the application's events, which stay queued for
    /// [`poll_event`](Self::poll_event). The order among what each yields is `poll`'s; so is the
    /// order between them where it matters: `Closed` only after `CloseSocket`, a deferred
    /// failure (our Close) only once the application took the events before it. Call until it
    /// returns `None`; with both, a driver keeps no event queue of its own.
    pub fn poll_io<B: TransmitBuf + ?Sized>(&mut self, buf: &mut B) -> Option<Action> {
        self.next_action(|out| out.poll_io(buf))
    }

    /// Whether [`poll_io`](Self::poll_io) may return something; `false` means it would return
    /// `None`. A driver that polls after every step checks this first: with only messages
    /// queued (or nothing), it is one comparison instead of a call.
    pub fn has_io(&self) -> bool {
        self.out.has_io()
    }

    /// The next action `next` takes from the output queue, applying the deferred failures it
    /// reaches on the way (each queues our Close and what follows it).
    fn next_action(
        &mut self,
        mut next: impl FnMut(&mut OutputQueue) -> Option<Polled>,
    ) -> Option<Action> {
        loop {
            match next(&mut self.out)? {
                Polled::Action(action) => return Some(action),
                Polled::Failure(error, detected_at) => {
                    if self.pending_failure.take().is_some() {
                        self.fail(detected_at, error);
                    }
                }
            }
        }
    }

    /// The application's next event (a message, Ping, Pong or the peer's Close), in order,
    /// when [`poll_io`](Self::poll_io) has taken what came before it. Never `Closed` (that is
    /// `poll_io`'s).
    pub fn poll_event(&mut self) -> Option<Event> {
        self.out.poll_event()
    }

    /// Events queued for [`poll_event`](Self::poll_event): what a driver's backpressure counts.
    pub fn queued_events(&self) -> usize {
        self.out.queued_events()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called; `None` if no timer runs.
    /// After `handle_timeout(now)` it is never earlier than `now` (unless a zero timeout is set).
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Open(keepalive) => match &keepalive.outstanding {
                Some(ping) => Some(ping.deadline),
                None => keepalive.next_ping,
            },
            Phase::CloseSent { deadline }
            | Phase::AwaitingServerEof { deadline }
            | Phase::Failed { deadline, .. } => Some(*deadline),
            Phase::Closed => None,
        }
    }

    // ----- internals -----

    /// Whether incoming bytes are still parsed: not after the peer's Close, a failure, or the end.
    fn is_reading(&self) -> bool {
        self.pending_failure.is_none()
            && matches!(self.phase, Phase::Open(_) | Phase::CloseSent { .. })
    }

    /// A protocol error in the input: the failure waits until the driver has polled what came
    /// before it.
    fn defer_failure(&mut self, now: Instant, error: ProtocolError) {
        self.pending_failure = Some(Box::new(error));
        self.out.failure(error, now);
    }

    /// Acts on a deferred protocol error now, before an event that would otherwise overtake it.
    fn apply_pending_failure(&mut self, now: Instant) {
        if let Some(error) = self.pending_failure.take() {
            self.out.remove_failure();
            self.fail(now, *error);
        }
    }

    fn check_open(&self) -> Result<(), CommandError> {
        match self.phase {
            Phase::Open(_) => Ok(()),
            _ => Err(CommandError::NotOpen(self.state())),
        }
    }

    fn mask(&mut self) -> Option<[u8; 4]> {
        match self.role {
            Role::Client => Some(self.masks.next_mask()),
            Role::Server => None,
        }
    }

    fn frame(&mut self, opcode: OpCode, payload: &[u8]) {
        let mask = self.mask();
        self.out.frame(true, 0, opcode, mask, payload);
    }

    /// Queues a data frame, through the compressor if `compressed` (RSV1 on a message's first
    /// frame only).
    fn data_frame(
        &mut self,
        fin: bool,
        opcode: OpCode,
        data: &[u8],
        compressed: bool,
    ) -> Result<(), CommandError> {
        let mask = self.mask();
        match self.deflater.as_mut() {
            Some(deflater) if compressed => {
                let payload = deflater
                    .compress(data, fin)
                    .map_err(|_| CommandError::CompressionFailed)?;
                let rsv = if opcode == OpCode::Continuation {
                    0
                } else {
                    RSV1
                };
                self.out.frame(fin, rsv, opcode, mask, payload);
                if fin {
                    deflater.message_sent();
                }
            }
            _ => self.out.frame(fin, 0, opcode, mask, data),
        }
        Ok(())
    }

    fn send_message(
        &mut self,
        opcode: OpCode,
        data: &[u8],
        compression: Compression,
    ) -> Result<(), CommandError> {
        self.check_open()?;
        if self.outgoing.is_some() {
            return Err(CommandError::FragmentedMessageInProgress);
        }
        let compressed = self
            .deflater
            .as_ref()
            .is_some_and(|d| d.wants(data.len(), compression));
        self.data_frame(true, opcode, data, compressed)
    }

    /// Like `send_message`, but a server queues a large uncompressed payload as it is.
    fn send_message_owned(
        &mut self,
        opcode: OpCode,
        data: Bytes,
        compression: Compression,
    ) -> Result<(), CommandError> {
        let compressed = self
            .deflater
            .as_ref()
            .is_some_and(|d| d.wants(data.len(), compression));
        let sent = if self.role == Role::Server && !compressed {
            // A server's uncompressed message is one unmasked frame whatever the settings: queued
            // here directly, the most common send skips the general path's mask and
            // compressor choices.
            self.check_open()?;
            if self.outgoing.is_some() {
                return Err(CommandError::FragmentedMessageInProgress);
            }
            if data.len() >= SHARE_MIN_LEN {
                self.out.shared_frame(true, 0, opcode, data);
                return Ok(());
            }
            self.out.frame(true, 0, opcode, None, &data);
            Ok(())
        } else {
            self.send_message(opcode, &data, compression)
        };
        // Copied into the frame: if the application let go of it (an echo does), the buffer
        // receives a later message.
        if data.is_unique() {
            self.reader.recycle_sent(data.into());
        }
        sent
    }

    fn send_control(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), CommandError> {
        self.check_open()?;
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(CommandError::ControlPayloadTooLong(payload.len()));
        }
        self.frame(opcode, payload);
        Ok(())
    }

    fn send_close(&mut self, frame: CloseFrame) {
        self.frame(OpCode::Close, &frame.payload());
        self.sent_close = Some(Box::new(frame));
        self.outgoing = None;
    }

    #[inline(always)]
    fn on_incoming(&mut self, now: Instant, item: Incoming) {
        match item {
            Incoming::Text(text) => self.out.event(Event::Text(text)),
            Incoming::Binary(data) => self.out.event(Event::Binary(data)),
            Incoming::Fragment(fragment) => self.out.event(Event::Fragment(fragment)),
            Incoming::Ping(payload) => {
                // After our Close, nothing more may be sent, Pongs included.
                if self.settings.auto_pong && matches!(self.phase, Phase::Open(_)) {
                    self.frame(OpCode::Pong, &payload);
                }
                self.out.event(Event::Ping(payload));
            }
            Incoming::Pong(payload) => {
                if let Phase::Open(keepalive) = &mut self.phase {
                    keepalive.pong_received(now, &payload, self.settings.keepalive());
                }
                self.out.event(Event::Pong(payload));
            }
            Incoming::Close(frame) => self.on_peer_close(now, frame),
        }
    }

    /// The peer's Close arrived (we are Open or CloseSent): the close handshake is complete once
    /// we have answered it.
    fn on_peer_close(&mut self, now: Instant, frame: CloseFrame) {
        self.received_close = Some(Box::new(frame.clone()));
        self.out.event(Event::CloseReceived(frame.clone()));
        if let Phase::Open(_) = self.phase {
            self.initiator = Initiator::Remote;
            // Echo the code (RFC 6455 section 5.5.1) and the reason, as Python websockets does.
            self.send_close(frame);
        }
        match self.role {
            Role::Server => {
                self.out.shutdown_write();
                self.release(Outcome::Clean);
            }
            Role::Client => {
                // Nothing more to write: let the server's kernel see our FIN now rather than
                // holding its side in FIN_WAIT_2.
                self.out.shutdown_write();
                self.phase = Phase::AwaitingServerEof {
                    deadline: now + self.settings.client_eof_timeout(),
                };
            }
        }
    }

    /// The peer broke the protocol: send the matching Close (if we still may) and end.
    fn fail(&mut self, now: Instant, error: ProtocolError) {
        let deadline = match self.phase {
            Phase::Open(_) => {
                self.initiator = Initiator::Local;
                self.send_close(CloseFrame::new(error.close_code(), error.reason()));
                now + self.settings.close_timeout()
            }
            Phase::CloseSent { deadline } => deadline,
            _ => return,
        };
        match self.role {
            Role::Server => {
                self.out.shutdown_write();
                self.release(Outcome::ProtocolError(error));
            }
            Role::Client => self.phase = Phase::Failed { error, deadline },
        }
    }

    /// A keepalive Ping went unanswered: tell the peer why (best effort) and release at once;
    /// waiting for a Close back from a dead peer would only hold the socket.
    fn dead_peer(&mut self) {
        self.initiator = Initiator::Local;
        self.send_close(CloseFrame::new(
            CloseCode::INTERNAL_ERROR,
            "keepalive ping timeout",
        ));
        self.release(Outcome::DeadPeer);
    }

    /// Closes the socket and reports `Closed`, exactly once.
    fn release(&mut self, outcome: Outcome) {
        if matches!(self.phase, Phase::Closed) {
            return;
        }
        self.phase = Phase::Closed;
        self.out.close_socket();
        let terminated = outcome == Outcome::Terminated;
        let received = self.received_close.as_deref().cloned();
        let (code, reason) = match (&received, terminated) {
            (Some(frame), false) => (frame.code, frame.reason.clone()),
            _ => (CloseCode::ABNORMAL, Default::default()),
        };
        self.out.event(Event::Closed(Box::new(Closed {
            code,
            reason,
            was_clean: !terminated && self.sent_close.is_some() && received.is_some(),
            initiator: self.initiator,
            outcome,
            sent: self.sent_close.as_deref().cloned(),
            received,
        })));
    }
}

fn opcode_of(kind: MessageKind) -> OpCode {
    match kind {
        MessageKind::Text => OpCode::Text,
        MessageKind::Binary => OpCode::Binary,
    }
}
