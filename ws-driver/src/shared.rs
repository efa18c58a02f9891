//! The driver: one connection, its socket and its timer, advanced as far as possible on every
//! poll from either half of a WebSocket.
//!
//! All protocol decisions are the core's; this file only moves bytes, fires the timer, and
//! applies backpressure (it stops reading while the application has unread messages or the
//! socket has a backlog of unwritten bytes).

use crate::config::Settings;
use crate::runtime::{Runtime, Transport};
use bytes::BytesMut;
use std::io;
use std::io::IoSlice;
use std::num::NonZeroU64;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;
use ws_proto::{Action, Closed, Connection, Event, Instant, State, Transmit};

/// Loop iterations per poll before yielding, so one busy connection cannot starve its executor.
const BUDGET: usize = 32;

/// Unwritten output past which even a corked drive writes: enough to batch many small messages
/// into one syscall, small enough that a batch of large ones still streams.
const CORK_BYTES: usize = 64 * 1024;

/// Output buffer capacity kept over a pause (`Shared::shrink_if_idle`, each time the reader is
/// about to wait with nothing queued); larger buffers, left by a big batch, are freed then, and
/// the rest by the idle release. 16 KiB holds a batch of a few kilobyte-sized messages: with
/// 4 KiB, a request/response exchange of eight 1 KiB messages freed its buffer at every pause
/// and grew a new one by reallocation for every batch (callgrind: 25 instructions per message
/// in `realloc`, and its copies).
const KEEP_OUT_CAPACITY: usize = 16 * 1024;

/// How long after its last read or write a connection keeps the memory it reuses while busy
/// (a recycled receive buffer, the spare output buffers, the queues' storage): long enough to
/// span the pauses of a busy exchange, short enough that idle connections hold none of it.
const IDLE_RELEASE_AFTER: Duration = Duration::from_secs(1);

/// Segments per vectored write: a batch of large payloads and the headers between them.
const MAX_WRITE_SEGMENTS: usize = 64;

thread_local! {
    /// The read buffer, shared by every connection polled on this thread. A connection needs it
    /// only during one `poll_read` + `handle_read` (the core copies what it keeps), so a buffer
    /// per connection would cost `read_buffer_size` of memory on every idle connection.
    static READ_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    /// The same for transports that read into spare capacity
    /// ([`Transport::reads_into_spare_capacity`]): large messages are split off it, and it is
    /// reclaimed whole for the next read once they are dropped.
    static READ_BYTES: std::cell::RefCell<BytesMut> = std::cell::RefCell::new(BytesMut::new());
}

/// Runs `f` with this thread's shared `BytesMut` read buffer (empty, with at least `size` bytes
/// of capacity), or a temporary one if it is already in use.
pub(crate) fn with_read_bytes<T>(size: usize, f: impl FnOnce(&mut BytesMut) -> T) -> T {
    READ_BYTES.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            buf.reserve(size);
            f(&mut buf)
        }
        Err(_) => f(&mut BytesMut::with_capacity(size)),
    })
}

/// Runs `f` with a read buffer of `size` bytes: this thread's shared one, or a temporary one if
/// it is already in use (re-entrant polling, which the driver itself never does).
pub(crate) fn with_read_buf<T>(size: usize, f: impl FnOnce(&mut [u8]) -> T) -> T {
    READ_BUF.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.len() < size {
                buf.resize(size, 0);
            }
            f(&mut buf[..size])
        }
        Err(_) => f(&mut vec![0; size]),
    })
}

pub(crate) struct Shared<S, R: Runtime> {
    io: Option<S>,
    pub(crate) conn: Connection,
    pub(crate) limits: Limits,
    epoch: std::time::Instant,
    /// Bytes from `Transmit` actions not yet on the socket: frames, and the large payloads the
    /// application handed over, written from its own buffers.
    out: Transmit,
    needs_flush: bool,
    shutdown_pending: bool,
    close_pending: bool,
    eof: bool,
    /// What only an ending connection has (the linger bound, how it closed): one box, absent
    /// until then.
    ending: Option<Box<Ending>>,
    /// Whether the reader has been told the stream ended.
    pub(crate) end_reported: bool,
    /// The application was just handed a message that preceded a bad frame: hold the failure
    /// (and our Close) until it comes back (next read, flush or close), so its answer goes first.
    pub(crate) hold_failure: bool,
    /// The one timer of the connection, armed at `timer_at`: the earliest of the core's
    /// deadline (keepalive, close and handshake timeouts), the idle release and the linger
    /// bound. One timer rather than one per purpose: each is a heap allocation that a
    /// connection, busy or idle, would otherwise keep.
    timer: Option<R::Timer>,
    /// What `timer` is armed at; `None` after it fired, so the next drive arms it anew.
    timer_at: Option<Deadline>,
    /// The core's deadline `timer_at` was computed from, valid while `armed`: while it did not
    /// change and the timer did not fire, a drive has nothing to do with the timer and skips
    /// the clock arithmetic (a drive runs several times per message).
    armed_for: Option<Deadline>,
    /// `armed_for` is valid; cleared to compute anew (the timer fired, or `release_at` or the
    /// linger bound changed: the timer check skips everything while it is set and the core's
    /// deadline is `armed_for`).
    armed: bool,
    /// When the connection, idle after reading or writing, frees what it kept for reuse
    /// ([`Shared::release_idle_memory`]).
    release_at: Option<Deadline>,
    /// Bytes were read or written since the last release: buffers may be kept for reuse.
    used_since_release: bool,
    /// The waker `timer` was last polled with. A drive polls the timer only when it may have
    /// fired ([`Runtime::timer_elapsed`]), was re-armed, or when the drive's waker is not this
    /// one (the WebSocket moved to another task, or was split or reunited), so that the timer
    /// wakes whoever drives the connection now. A clone of the waker rather than a waker of our
    /// own around it that records the firing: that was a 48-byte allocation on every
    /// connection.
    timer_waker: Option<Waker>,
    /// A write-side shutdown was asked for: `CloseSocket` then waits for the output to drain.
    graceful_close: bool,
    /// The read half was dropped: the write half reads (and discards messages) so Pings, Pongs
    /// and the peer's Close are still processed.
    pub(crate) reader_gone: bool,
    /// Bytes read since the socket last had nothing to give or the reader last yielded: at the
    /// runtime's `READ_TURN` the reader stops reading and yields once ([`Shared::end_read_turn`]).
    read_turn: u32,
}

/// The driver settings a running connection consults (the core keeps its own): a few words
/// instead of the whole [`Config`] on every connection.
pub(crate) struct Limits {
    pub(crate) write_high_water_mark: usize,
    /// Narrower than the [`Config`] fields (every connection keeps these): larger values than
    /// fit would mean gigabyte reads or billions of queued messages, so they saturate.
    read_buffer_size: u32,
    max_queued_messages: u32,
    /// Boxed: only connections that are monitored or traced pay for it.
    observed: Option<Box<Observed>>,
}

/// Who watches a connection: its monitor, and its tracing span when a subscriber wants it.
struct Observed {
    watched: Option<Watched>,
    span: Option<tracing::Span>,
}

/// The part of [`Shared`] only an ending connection needs.
#[derive(Default)]
struct Ending {
    /// How long a graceful `CloseSocket` may wait for the output to drain.
    linger_until: Option<Deadline>,
    /// How the connection closed, once it did.
    closed: Option<Closed>,
}

/// What a monitored connection tells its monitor, and what it needs to remember for it.
struct Watched {
    monitor: crate::Monitor,
    /// When the connection opened and entered CLOSING, its last seen state.
    opened_at: std::time::Instant,
    closing_since: Option<std::time::Instant>,
    last_state: State,
}

impl Limits {
    /// Whether a monitor counts this connection (and may reach it from elsewhere).
    pub(crate) fn monitored(&self) -> bool {
        self.observed.as_ref().is_some_and(|o| o.watched.is_some())
    }

    fn watched(&mut self) -> Option<&mut Watched> {
        self.observed.as_deref_mut()?.watched.as_mut()
    }

    fn span(&self) -> Option<&tracing::Span> {
        self.observed.as_deref()?.span.as_ref()
    }

    /// `now`: when the connection opened; `span`: the connection's, if it is traced.
    fn new(config: Settings, now: std::time::Instant, span: Option<tracing::Span>) -> Limits {
        let watched = config.monitor.map(|monitor| Watched {
            monitor,
            opened_at: now,
            closing_since: None,
            last_state: State::Open,
        });
        Limits {
            write_high_water_mark: config.write_high_water_mark,
            read_buffer_size: saturating_u32(config.read_buffer_size.max(1)),
            max_queued_messages: saturating_u32(config.max_queued_messages),
            observed: (watched.is_some() || span.is_some())
                .then(|| Box::new(Observed { watched, span })),
        }
    }
}

/// How far out a timer is armed for a deadline past what `std::time::Instant` can represent
/// (a timeout of `Duration::MAX` means never): as good as never, and re-armed if it fires.
const FAR_FUTURE: Duration = Duration::from_secs(365 * 86_400);

/// `base + after`, saturating at [`FAR_FUTURE`] after `base` instead of panicking.
pub(crate) fn instant_after(base: std::time::Instant, after: Duration) -> std::time::Instant {
    base.checked_add(after).unwrap_or_else(|| base + FAR_FUTURE)
}

fn saturating_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn saturating_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A driver deadline, as nanoseconds since the connection's epoch (at least one): with the
/// zero niche an `Option<Deadline>` takes 8 bytes where an `Option<std::time::Instant>` takes
/// 16, and every connection keeps four. Saturates 584 years after the epoch.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
struct Deadline(NonZeroU64);

impl Deadline {
    /// The deadline `since_epoch` after the epoch (one at the epoch itself moves 1 ns later).
    fn after_epoch(since_epoch: Duration) -> Deadline {
        Deadline(NonZeroU64::new(saturating_nanos(since_epoch)).unwrap_or(NonZeroU64::MIN))
    }

    /// The core's deadline (the core's clock shares the connection's epoch).
    fn of_core(deadline: Instant) -> Deadline {
        Deadline::after_epoch(deadline.as_duration())
    }

    fn since_epoch(self) -> Duration {
        Duration::from_nanos(self.0.get())
    }
}

impl<S: Transport, R: Runtime> Shared<S, R> {
    /// `timer`: one to reuse (the handshake's); it may still be armed, in which case it is
    /// re-armed by the first drive that has a deadline, or fires once for nothing.
    pub(crate) fn new(
        io: S,
        conn: Connection,
        epoch: std::time::Instant,
        config: Settings,
        timer: Option<R::Timer>,
    ) -> Self {
        let span = tracing::debug_span!("websocket", role = ?conn.role());
        span.in_scope(|| tracing::debug!("open"));
        Shared {
            io: Some(io),
            conn,
            limits: Limits::new(config, R::now(), (!span.is_disabled()).then_some(span)),
            epoch,
            out: Transmit::new(),
            needs_flush: false,
            shutdown_pending: false,
            close_pending: false,
            eof: false,
            ending: None,
            end_reported: false,
            hold_failure: false,
            timer,
            timer_at: None,
            armed_for: None,
            armed: false,
            release_at: None,
            used_since_release: false,
            timer_waker: None,
            graceful_close: false,
            reader_gone: false,
            read_turn: 0,
        }
    }

    /// How the connection closed, once it did.
    pub(crate) fn closed(&self) -> Option<&Closed> {
        self.ending.as_ref()?.closed.as_ref()
    }

    fn linger_until(&self) -> Option<Deadline> {
        self.ending.as_ref()?.linger_until
    }

    fn ending_mut(&mut self) -> &mut Ending {
        self.ending.get_or_insert_with(Box::default)
    }

    /// The core's clock: the runtime's time since this connection's epoch.
    pub(crate) fn now(&self) -> Instant {
        Instant::from_duration(R::now().saturating_duration_since(self.epoch))
    }

    /// The deadline `after` from now.
    fn deadline_in(&self, after: Duration) -> Deadline {
        Deadline::after_epoch(self.now().as_duration().saturating_add(after))
    }

    /// `deadline` on the runtime's clock, for its timer ([`FAR_FUTURE`] from now if it is past
    /// what the clock can represent).
    fn instant_of(&self, deadline: Deadline) -> std::time::Instant {
        self.epoch
            .checked_add(deadline.since_epoch())
            .unwrap_or_else(|| R::now() + FAR_FUTURE)
    }

    /// Makes every step possible without waiting; registers `cx` with whatever it waits on.
    /// Returns whether anything happened (bytes moved, events queued, a timer fired).
    ///
    /// Only the read side (or anyone while closing) reads the socket: a message read while the
    /// application is busy sending could be followed by a bad frame that fails the connection
    /// before the application answered the message, which tungstenite-style read-on-demand
    /// never does (Autobahn 4.1.5 then reports NON-STRICT).
    pub(crate) fn drive(&mut self, cx: &mut Context<'_>, half: Half, flush: Flush) -> bool {
        let span = self.limits.span().cloned();
        let _entered = span.as_ref().map(tracing::Span::enter);
        let events_before = self.conn.queued_events();
        let mut any = false;
        for _ in 0..BUDGET {
            self.take_actions();
            let mut progress = false;
            if self.may_write(flush) {
                progress |= self.write(cx);
            }
            // Read on demand: while messages wait for the application there is nothing to gain
            // from the socket but a syscall (and a bad frame read too early).
            let read_half = matches!(half, Half::Read);
            let reader = read_half || self.reader_gone;
            let open = self.conn.state() == State::Open;
            // The read half's turn (`Runtime::READ_TURN`) is over once it has read its share: it
            // yields before reading more (`end_read_turn`).
            let turn_left = !read_half || R::READ_TURN.map_or(true, |turn| self.read_turn < turn);
            if !open || (reader && self.conn.queued_events() == 0 && turn_left) {
                progress |= self.read(cx);
            }
            // The timer is checked once the socket has nothing more to give: an iteration that
            // moved bytes is followed by another, which checks it then (one check per drive
            // instead of one per iteration; it is most of an idle iteration's cost).
            if !progress {
                progress = self.fire_timer(cx);
            }
            any |= progress;
            if !progress {
                return any || self.conn.queued_events() != events_before;
            }
        }
        // Out of budget with work left: the timer still gets its check (a peer that never stops
        // sending must not hold off a close timeout), then come back after others had their turn.
        self.fire_timer(cx);
        cx.waker().wake_by_ref();
        true
    }

    /// The reader is about to wait: if nothing is queued either way, give back large buffers
    /// now, and the rest of what is kept for reuse in `IDLE_RELEASE_AFTER` unless the
    /// connection gets busy again.
    pub(crate) fn shrink_if_idle(&mut self, cx: &mut Context<'_>) {
        if !self.is_idle() {
            return;
        }
        self.out.shrink(KEEP_OUT_CAPACITY);
        self.conn.shrink_buffers(KEEP_OUT_CAPACITY);
        if self.used_since_release && self.release_at.is_none() && self.io.is_some() {
            self.release_at = Some(self.deadline_in(IDLE_RELEASE_AFTER));
            self.armed = false;
            // Arm the timer now: the reader is about to wait, and no drive may come before it.
            if self.fire_timer(cx) {
                // A timer already due (a keepalive deadline just passed): wake the task so
                // the drive that handles its output comes.
                cx.waker().wake_by_ref();
            }
        }
    }

    /// Nothing queued either way.
    fn is_idle(&self) -> bool {
        self.conn.queued_events() == 0 && self.out.is_empty() && self.conn.buffered_amount() == 0
    }

    /// The idle release came due (`release_at`, on the connection's one timer). The recycled receive buffer goes in any case (a busy connection
    /// recycles a fresh one soon); if the connection is idle, so does every other buffer and
    /// queue storage kept for reuse, leaving an idle connection its fixed-size state only.
    fn release_idle_memory(&mut self) {
        self.conn.release_recycled_buffer();
        if self.is_idle() {
            self.out.shrink(0);
            self.conn.shrink_buffers(0);
            self.used_since_release = false;
        }
    }

    /// Whether a message may be queued without driving first: the connection is open and its
    /// output is under both the cork threshold and the high-water mark, so a corked drive would
    /// neither write nor refuse.
    pub(crate) fn room_to_queue(&self) -> bool {
        let buffered = self.conn.buffered_amount();
        self.conn.state() == State::Open
            && buffered < CORK_BYTES
            && buffered < self.limits.write_high_water_mark
    }

    /// Whether this drive writes: always when flushing or closing, past `CORK_BYTES`, and for the
    /// reader once it has nothing to hand over (it is about to wait, so queued Pongs and
    /// messages must go now). Otherwise output waits, so a batch of messages handled in a row
    /// goes out in one write at the flush instead of one write each.
    fn may_write(&self, flush: Flush) -> bool {
        let now = match flush {
            Flush::Now => true,
            Flush::Corked => false,
            Flush::WhenIdle => self.conn.queued_events() == 0,
        };
        now || self.conn.state() != State::Open || self.conn.buffered_amount() >= CORK_BYTES
    }

    /// Moves the core's output into the write buffer and the pending socket actions. The
    /// application's events stay in the core's queue, where `poll_next` takes them
    /// ([`Connection::poll_event`]): the core keeps them in order with the rest, so the driver
    /// needs no queue of its own.
    #[inline]
    fn take_actions(&mut self) {
        if self.conn.has_io() || (self.reader_gone && self.conn.queued_events() > 0) {
            self.poll_actions();
        }
        self.observe_state();
    }

    /// [`Self::take_actions`] when there is something to take.
    #[inline(never)]
    fn poll_actions(&mut self) {
        loop {
            // Let the application answer the messages before a bad frame before the connection
            // fails (Autobahn 3.2, 4.x, 5.15 expect the echo ahead of the Close). With events
            // before the failure, `poll_io` holds it by itself.
            if self.conn.failure_is_next() && self.hold_failure {
                break;
            }
            let Some(action) = self.conn.poll_io(&mut self.out) else {
                // Nobody will read messages once the read half is gone: drop them, which may
                // let a failure held behind them proceed.
                let queued = self.conn.queued_events();
                if self.reader_gone && queued > 0 {
                    self.discard_events();
                    if self.conn.queued_events() < queued {
                        continue;
                    }
                }
                break;
            };
            match action {
                Action::Transmit(_) => {}
                Action::ShutdownWrite => {
                    self.shutdown_pending = true;
                    self.graceful_close = true;
                }
                Action::CloseSocket => self.close_pending = true,
                Action::Event(Event::Closed(closed)) => {
                    self.observe_closed(&closed);
                    tracing::debug!(
                        code = closed.code.0,
                        clean = closed.was_clean,
                        outcome = ?closed.outcome,
                        initiator = ?closed.initiator,
                        "closed"
                    );
                    self.ending_mut().closed = Some(*closed);
                }
                _ => {}
            }
        }
    }

    /// The application's next event, in order (see [`Self::take_actions`]).
    pub(crate) fn next_event(&mut self) -> Option<Event> {
        let event = self.conn.poll_event()?;
        if let Event::CloseReceived(frame) = &event {
            tracing::debug!(code = frame.code.0, reason = %frame.reason, "close received");
        }
        Some(event)
    }

    /// Drops the events the application will not read (its read half is gone); only those at
    /// the front of the queue, which is all of them once `take_actions` took the rest.
    pub(crate) fn discard_events(&mut self) {
        while self.next_event().is_some() {}
    }

    /// Tells the monitor when the connection enters CLOSING.
    fn observe_state(&mut self) {
        let Some(watched) = self.limits.watched() else {
            return;
        };
        let state = self.conn.state();
        if state == State::Closing && watched.last_state == State::Open {
            watched.closing_since = Some(R::now());
            watched.monitor.closing();
        }
        if state != State::Closed {
            watched.last_state = state;
        }
    }

    /// Tells the monitor how the connection ended.
    fn observe_closed(&mut self, closed: &ws_proto::Closed) {
        let Some(watched) = self.limits.watched() else {
            return;
        };
        let now = R::now();
        let was_closing = watched.last_state == State::Closing;
        // A close handshake that completed within one read still spent (about) no time closing.
        let closing_for = match watched.closing_since {
            Some(since) => Some(now.saturating_duration_since(since)),
            None if closed.sent.is_some() || closed.received.is_some() => Some(Duration::ZERO),
            None => None,
        };
        watched.monitor.closed(
            closed,
            was_closing,
            closing_for,
            now.saturating_duration_since(watched.opened_at),
        );
        watched.last_state = State::Closed;
    }

    fn write(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(io) = self.io.as_mut() else {
            return false;
        };
        let mut progress = false;
        let mut error = None;
        let mut wrote = false;
        while !self.out.is_empty() {
            match write_some(io, cx, &self.out) {
                Poll::Ready(Ok(0)) => {
                    error = Some(io::Error::from(io::ErrorKind::WriteZero));
                    break;
                }
                Poll::Ready(Ok(n)) => {
                    self.out.advance(n);
                    self.conn.handle_written(n);
                    wrote = true;
                    self.used_since_release = true;
                    progress = true;
                }
                Poll::Ready(Err(e)) => {
                    error = Some(e);
                    break;
                }
                Poll::Pending => break,
            }
        }
        if error.is_none() && wrote && self.out.is_empty() {
            self.needs_flush = true;
        }
        while let Some(buf) = self.out.take_reusable() {
            self.conn.recycle_buffer(buf);
        }
        if error.is_none() && self.out.is_empty() && self.needs_flush {
            match io.poll_flush(cx) {
                Poll::Ready(Ok(())) => {
                    self.needs_flush = false;
                    progress = true;
                }
                Poll::Ready(Err(e)) => error = Some(e),
                Poll::Pending => {}
            }
        }
        if error.is_none() && self.out.is_empty() && !self.needs_flush && self.shutdown_pending {
            if let Poll::Ready(result) = io.poll_shutdown(cx) {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "shutdown failed");
                }
                self.shutdown_pending = false;
                progress = true;
            }
        }
        if let Some(e) = error {
            self.transport_error(e);
            return true;
        }
        if self.close_pending {
            let done = self.out.is_empty() && !self.needs_flush && !self.shutdown_pending;
            // A graceful end (a write-side shutdown was asked for) waits for the bytes before it,
            // the Close among them, within the linger bound; an abortive one (timeouts, dead
            // peer, terminate) drops what could not be written at once.
            let linger_over = self
                .linger_until()
                .is_some_and(|t| Deadline::of_core(self.now()) >= t);
            if done || !self.graceful_close || linger_over {
                self.release_socket(cx);
                return true;
            }
            if self.linger_until().is_none() {
                let until = self.deadline_in(self.conn.close_timeout());
                self.ending_mut().linger_until = Some(until);
                // A new deadline: the timer check must not take the armed timer as current.
                self.armed = false;
            }
        }
        progress
    }

    /// Closes the socket, first reading away what it holds so the kernel sends FIN, not RST.
    fn release_socket(&mut self, cx: &mut Context<'_>) {
        if let Some(mut io) = self.io.take() {
            with_read_buf(self.limits.read_buffer_size as usize, |buf| {
                for _ in 0..16 {
                    match io.poll_read(cx, buf) {
                        Poll::Ready(Ok(n)) if n > 0 => {}
                        _ => break,
                    }
                }
            });
            tracing::debug!("socket closed");
        }
        self.close_pending = false;
        self.timer = None;
        self.timer_at = None;
        self.armed = false;
    }

    fn transport_error(&mut self, error: io::Error) {
        tracing::debug!(%error, "transport error");
        let now = self.now();
        self.conn.handle_transport_error(now);
        self.out.clear();
        self.needs_flush = false;
        self.shutdown_pending = false;
    }

    /// Fires the timers that expired.
    ///
    /// The timer is polled only when it may have fired ([`Runtime::timer_elapsed`]: on tokio
    /// the timer's own state, elsewhere a clock read), or it is new or re-armed, or the drive's
    /// waker changed; not on every drive: polling a registered timer costs a waker swap
    /// (tokio's `Sleep` clones the waker on every poll).
    #[inline]
    fn fire_timer(&mut self, cx: &mut Context<'_>) -> bool {
        if self.io.is_none() {
            return false;
        }
        let moved = !self
            .timer_waker
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()));
        if moved {
            self.timer_waker = Some(cx.waker().clone());
        }
        // A timer that may have fired is polled (which also re-registers it); so is every
        // timer when the waker changed, as if it had fired.
        let fired = moved
            || match (self.timer_at, self.timer.as_ref()) {
                (Some(at), Some(timer)) => R::timer_elapsed(timer, || self.instant_of(at)),
                _ => false,
            };
        // Nearly always: nothing fired and the timer is armed for the core's deadline.
        if !fired && self.armed && self.armed_for == self.core_deadline() {
            return false;
        }
        self.poll_timers(fired, cx)
    }

    fn core_deadline(&self) -> Option<Deadline> {
        self.conn.poll_timeout().map(Deadline::of_core)
    }

    /// [`Self::fire_timer`] with whether the timer may have fired (or must be polled anyway).
    /// Returns whether the core's timeout was handled (the idle release is bookkeeping, not
    /// progress).
    #[inline(never)]
    fn poll_timers(&mut self, fired: bool, cx: &mut Context<'_>) -> bool {
        if let Some(until) = self.linger_until() {
            // Lingering after CloseSocket: the only timer left is the linger bound.
            let until = self.instant_of(until);
            let timer = self.timer.get_or_insert_with(|| R::timer(until));
            R::reset(timer, until);
            self.timer_at = None;
            self.armed = false;
            return R::poll_timer(timer, cx).is_ready();
        }
        let mut fired = fired;
        loop {
            let deadline = self.conn.poll_timeout();
            let core_at = deadline.map(Deadline::of_core);
            if !fired && self.armed && self.armed_for == core_at {
                return false;
            }
            self.armed_for = core_at;
            self.armed = true;
            let at = match (core_at, self.release_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let rearmed = at != self.timer_at;
            if rearmed {
                self.timer_at = at;
                if let Some(at) = at {
                    let at = self.instant_of(at);
                    match &mut self.timer {
                        Some(timer) => R::reset(timer, at),
                        None => self.timer = Some(R::timer(at)),
                    }
                }
            }
            let (Some(at), Some(timer)) = (at, self.timer.as_mut()) else {
                return false;
            };
            if !(fired || rearmed) || R::poll_timer(timer, cx).is_pending() {
                return false;
            }
            // The timer fired: `at` has passed, even if the clock reads a hair earlier.
            self.timer_at = None;
            self.armed = false;
            let now = Deadline::of_core(self.now()).max(at);
            if self.release_at.is_some_and(|release_at| release_at <= now) {
                self.release_at = None;
                self.release_idle_memory();
            }
            if let Some(deadline) = deadline.filter(|_| core_at.is_some_and(|c| c <= now)) {
                let now = self.now().max(deadline);
                self.conn.handle_timeout(now);
                return true;
            }
            // Only the release was due: go round to arm the timer for the core's deadline.
            fired = false;
        }
    }

    fn read(&mut self, cx: &mut Context<'_>) -> bool {
        if self.io.is_none() {
            return false;
        }
        let state = self.conn.state();
        if self.eof || state == State::Closed {
            return false;
        }
        // Backpressure, except while closing, when the peer's Close must still be read.
        if state == State::Open
            && (self.conn.queued_events() >= self.limits.max_queued_messages as usize
                || self.conn.buffered_amount() >= self.limits.write_high_water_mark)
        {
            return false;
        }
        let size = self.limits.read_buffer_size as usize;
        // The clock is read only when bytes arrived.
        let epoch = self.epoch;
        let now = || Instant::from_duration(R::now().saturating_duration_since(epoch));
        let (Some(io), conn) = (self.io.as_mut(), &mut self.conn) else {
            return false;
        };
        let mut direct = false;
        let result = if let Some(payload) = conn.payload_buffer() {
            direct = true;
            // In the middle of a large frame: read straight into the message, as much of the
            // frame as the socket has.
            let result = io.poll_read_direct(cx, payload);
            if let Poll::Ready(Ok(n)) = result {
                conn.handle_payload_read(now(), n);
            }
            result
        } else {
            // Between large frames, only up to the next header: its payload is then read
            // directly too.
            let size = conn.read_limit().map_or(size, |limit| limit.clamp(1, size));
            if io.reads_into_spare_capacity() {
                with_read_bytes(size, |buf| {
                    let result = io.poll_read_buf(cx, buf, size);
                    if let Poll::Ready(Ok(n)) = result {
                        if n > 0 {
                            conn.handle_read_buf(now(), buf);
                        }
                    }
                    result
                })
            } else {
                with_read_buf(size, |buf| {
                    let result = io.poll_read(cx, buf);
                    if let Poll::Ready(Ok(n)) = result {
                        if n > 0 {
                            conn.handle_read(now(), &buf[..n]);
                        }
                    }
                    result
                })
            }
        };
        match result {
            Poll::Ready(Ok(0)) => {
                self.eof = true;
                self.conn.handle_eof(now());
            }
            Poll::Ready(Ok(n)) => {
                self.used_since_release = true;
                // Direct reads of large frames (256 KiB and up, often one read per frame) do not
                // count: a yield after each cost ws-smol +76 % server CPU (+12 % with the load's)
                // at 1 MiB.
                if !direct && R::READ_TURN.is_some() {
                    self.read_turn = self.read_turn.saturating_add(saturating_u32(n));
                }
            }
            Poll::Ready(Err(e)) => self.transport_error(e),
            Poll::Pending => {
                // The socket ran dry: the task waits for it, and others run meanwhile.
                self.read_turn = 0;
                return false;
            }
        }
        true
    }

    /// If the read half has read its share (`Runtime::READ_TURN`) and has nothing to hand over,
    /// starts its next turn and wakes its task to come back after the others on the executor
    /// had theirs; the caller returns `Pending`. Returns whether it did.
    pub(crate) fn end_read_turn(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(turn) = R::READ_TURN else {
            return false;
        };
        if self.read_turn < turn || self.conn.state() != State::Open {
            return false;
        }
        self.read_turn = 0;
        cx.waker().wake_by_ref();
        true
    }

    /// The connection is over and its socket released (after any graceful drain): what the end
    /// of the stream and `close()` wait for.
    pub(crate) fn finished(&self) -> Option<&Closed> {
        match (self.closed(), &self.io) {
            (Some(closed), None) => Some(closed),
            _ => None,
        }
    }

    /// Whether every queued byte has reached the socket.
    pub(crate) fn is_flushed(&self) -> bool {
        self.io.is_none()
            || (self.out.is_empty() && !self.needs_flush && self.conn.buffered_amount() == 0)
    }

    /// `terminate()`: drop everything and the socket, now.
    pub(crate) fn terminate(&mut self) {
        self.conn.terminate();
        self.out.clear();
        self.take_actions();
        self.io = None;
        self.close_pending = false;
        self.timer = None;
        self.timer_at = None;
        self.armed = false;
    }
}

/// Writes from the front of `out`: one buffer as it is, several in one vectored write.
fn write_some<S: Transport>(
    io: &mut S,
    cx: &mut Context<'_>,
    out: &Transmit,
) -> Poll<io::Result<usize>> {
    let mut chunks = out.chunks();
    let Some(first) = chunks.next() else {
        return Poll::Ready(Ok(0));
    };
    if out.len() == first.len() || !io.is_write_vectored() {
        return io.poll_write(cx, first);
    }
    let mut slices = [IoSlice::new(&[]); MAX_WRITE_SEGMENTS];
    slices[0] = IoSlice::new(first);
    let mut count = 1;
    for (slot, chunk) in slices[1..].iter_mut().zip(chunks) {
        *slot = IoSlice::new(chunk);
        count += 1;
    }
    io.poll_write_vectored(cx, &slices[..count])
}

/// When a drive writes what is queued (see `Shared::may_write`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flush {
    /// `poll_flush`, `poll_close`, `close()`: write everything.
    Now,
    /// `poll_ready`: more is about to be queued; write only past `CORK_BYTES`.
    Corked,
    /// `poll_next`: write when no message is waiting for the application.
    WhenIdle,
}

/// Which half of a WebSocket is polling.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Half {
    Read,
    Write,
}

/// Wakes both halves: the socket keeps one waker per direction, and whichever half polled last
/// registered it, so a wake-up must reach both (spurious wake-ups are harmless).
#[derive(Default)]
struct Wakers {
    read: Mutex<Option<Waker>>,
    write: Mutex<Option<Waker>>,
}

impl Wake for Wakers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        for slot in [&self.read, &self.write] {
            if let Some(waker) = slot.lock().unwrap_or_else(PoisonError::into_inner).take() {
                waker.wake();
            }
        }
    }
}

/// The state both halves share.
pub(crate) struct Inner<S, R: Runtime> {
    shared: Mutex<Shared<S, R>>,
    wakers: Arc<Wakers>,
    proxy: Waker,
}

impl<S: Transport, R: Runtime> Inner<S, R> {
    pub(crate) fn new(shared: Shared<S, R>) -> Arc<Self> {
        let wakers = Arc::new(Wakers::default());
        Arc::new(Inner {
            shared: Mutex::new(shared),
            proxy: Waker::from(wakers.clone()),
            wakers,
        })
    }

    /// Terminates the connection and wakes both halves (dropping the socket wakes no one).
    pub(crate) fn terminate(&self) {
        self.lock().terminate();
        self.proxy.wake_by_ref();
    }

    /// The read half is gone: the write half takes over reading.
    pub(crate) fn reader_dropped(&self) {
        let mut shared = self.lock();
        shared.reader_gone = true;
        shared.discard_events();
        drop(shared);
        self.proxy.wake_by_ref();
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Shared<S, R>> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The state, out of a connection nothing else shares any more (reunited halves).
    pub(crate) fn into_shared(self) -> Mutex<Shared<S, R>> {
        self.shared
    }

    /// Registers `cx` for `half`, runs `before`, drives the connection, then runs `f` on the
    /// shared state.
    pub(crate) fn poll_with<T>(
        &self,
        cx: &mut Context<'_>,
        half: Half,
        flush: Flush,
        before: impl FnOnce(&mut Shared<S, R>),
        f: impl FnOnce(&mut Shared<S, R>, &mut Context<'_>) -> T,
    ) -> T {
        let (mine, other) = match half {
            Half::Read => (&self.wakers.read, &self.wakers.write),
            Half::Write => (&self.wakers.write, &self.wakers.read),
        };
        {
            let mut slot = mine.lock().unwrap_or_else(PoisonError::into_inner);
            if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *slot = Some(cx.waker().clone());
            }
        }
        let mut proxy_cx = Context::from_waker(&self.proxy);
        let mut shared = self.lock();
        before(&mut shared);
        let progress = shared.drive(&mut proxy_cx, half, flush);
        let result = f(&mut shared, &mut proxy_cx);
        drop(shared);
        if progress {
            // This poll may have done what the other half is waiting for (read its messages,
            // written its backlog, closed): the IO readiness that would have woken it was
            // consumed here, so wake it, unless it is this very task.
            let mut slot = other.lock().unwrap_or_else(PoisonError::into_inner);
            if slot.as_ref().is_some_and(|w| !w.will_wake(cx.waker())) {
                if let Some(waker) = slot.take() {
                    drop(slot);
                    waker.wake();
                }
            }
        }
        result
    }
}

impl<S: Transport, R: Runtime> crate::monitor::Control for Inner<S, R> {
    fn close(&self, code: ws_proto::CloseCode, reason: &str) {
        {
            let mut shared = self.lock();
            let now = shared.now();
            let _ = shared.conn.close(now, code, reason);
        }
        // Wake whichever task drives this connection so the Close goes out.
        self.proxy.wake_by_ref();
    }

    fn terminate(&self) {
        Inner::terminate(self);
    }
}
