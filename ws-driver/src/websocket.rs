//! `WebSocket<S>`: a `Stream` of messages and a `Sink` for them, splittable into halves that
//! never deadlock.

use crate::config::{Config, Settings};
use crate::error::Error;
use crate::message::Message;
use crate::random::OsMasks;
use crate::runtime::{Runtime, Transport};
use crate::shared::{Flush, Half, Inner, Shared};
use futures_core::Stream;
use futures_sink::Sink;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use ws_proto::{
    CloseCode, Closed, CommandError, Compression, Connection, Instant, MessageKind, Outcome, Role,
    State,
};

/// A WebSocket connection over the transport `S`, on the runtime `R`.
///
/// - Read: `Stream<Item = Result<Message, Error>>`. The stream ends (`None`) after a clean close;
///   after an unclean end it yields one `Err(Error::ConnectionLost(report))` first.
/// - Write: `Sink<Message>`; `poll_ready` applies backpressure at the write high-water mark.
/// - [`close`](Self::close) starts the close handshake and resolves once the connection is
///   Closed (bounded by the close timeout); [`terminate`](Self::terminate) drops it at once.
///
/// Every poll from either side drives the whole connection: answering Pings and Close frames,
/// firing timers, writing queued frames.
///
/// **Cancellation safety**: `next()` is cancellation safe. A message is removed from the queue
/// only when `poll_next` returns it, so dropping a pending `next()` (in `select!`, on a timeout)
/// loses nothing; the next call returns the same message.
pub struct WebSocket<S, R: Runtime> {
    repr: Repr<S, R>,
}

/// Where a [`WebSocket`]'s state lives.
enum Repr<S, R: Runtime> {
    /// Owned by this value alone (not split, no monitor): `Stream` and `Sink` polls, which have
    /// `&mut self`, reach it with no lock and no atomic operation, and drive the connection
    /// with the task's own waker. The mutex serves the `&self` methods only.
    Whole(Box<Mutex<Shared<S, R>>>),
    /// Shared with split halves or a monitor: every access locks.
    Shared(Arc<Inner<S, R>>),
}

/// The read half of a split [`WebSocket`]: a `Stream` of messages.
pub struct ReadHalf<S, R: Runtime> {
    inner: Arc<Inner<S, R>>,
    guard: ReaderGuard,
}

/// Tells the connection when the read half is dropped, so the write half takes over reading: a
/// write-only user still needs Pings answered and the peer's Close seen.
struct ReaderGuard(Option<Arc<dyn ReaderControl>>);

trait ReaderControl: Send + Sync {
    fn reader_dropped(&self);
}

impl<S: Transport, R: Runtime> ReaderControl for Inner<S, R> {
    fn reader_dropped(&self) {
        Inner::reader_dropped(self);
    }
}

impl Drop for ReaderGuard {
    fn drop(&mut self) {
        if let Some(inner) = self.0.take() {
            inner.reader_dropped();
        }
    }
}

/// Halves of two different WebSockets cannot be reunited; here they are back.
pub struct ReuniteError<S, R: Runtime>(pub ReadHalf<S, R>, pub WriteHalf<S, R>);

impl<S, R: Runtime> std::fmt::Debug for ReuniteError<S, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReuniteError: the halves belong to different WebSockets")
    }
}

/// The write half of a split [`WebSocket`]: a `Sink` of messages, plus `close` and `terminate`.
pub struct WriteHalf<S, R: Runtime> {
    inner: Arc<Inner<S, R>>,
}

impl<S, R: Runtime> std::fmt::Debug for WebSocket<S, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket").finish_non_exhaustive()
    }
}

impl<S: Transport, R: Runtime> WebSocket<S, R> {
    /// Wraps a connection whose handshake is done; `epoch` is the instant its clock started at.
    pub fn from_connection(
        io: S,
        conn: Connection,
        epoch: std::time::Instant,
        config: Config,
    ) -> Self {
        Self::with_timer(io, conn, epoch, config.split().1, None)
    }

    /// [`Self::from_connection`], taking over the handshake's timer (armed or not) so the
    /// connection does not free one timer and allocate another.
    pub(crate) fn with_timer(
        io: S,
        conn: Connection,
        epoch: std::time::Instant,
        settings: Settings,
        timer: Option<R::Timer>,
    ) -> Self {
        let monitor = settings.monitor.clone();
        let shared = Shared::new(io, conn, epoch, settings, timer);
        let Some(monitor) = monitor else {
            return WebSocket {
                repr: Repr::Whole(Box::new(Mutex::new(shared))),
            };
        };
        // The monitor reaches the connection from elsewhere (to close or terminate it).
        let inner = Inner::new(shared);
        let control: std::sync::Weak<dyn crate::monitor::Control> =
            Arc::downgrade(&inner) as std::sync::Weak<Inner<S, R>>;
        monitor.opened(control);
        WebSocket {
            repr: Repr::Shared(inner),
        }
    }

    /// The state, for a `&self` method.
    fn lock(&self) -> MutexGuard<'_, Shared<S, R>> {
        match &self.repr {
            Repr::Whole(shared) => lock(shared),
            Repr::Shared(inner) => inner.lock(),
        }
    }

    /// A WebSocket over a stream that was already upgraded elsewhere (hyper, axum, an HTTP/2
    /// extended CONNECT stream): starts Open, with `role` deciding masking.
    pub fn from_raw_socket(io: S, role: Role, config: Config) -> Self {
        let conn = Connection::new(
            role,
            Instant::ZERO,
            config.protocol.clone(),
            OsMasks::default(),
        );
        Self::from_connection(io, conn, R::now(), config)
    }

    /// Connecting (never, once constructed), Open, Closing or Closed.
    pub fn state(&self) -> State {
        self.lock().conn.state()
    }

    /// Bytes queued and not yet written to the socket.
    pub fn buffered_amount(&self) -> usize {
        self.lock().conn.buffered_amount()
    }

    /// The final report (code, reason, was_clean, outcome) once the connection is Closed.
    pub fn closed(&self) -> Option<Closed> {
        self.lock().closed().cloned()
    }

    /// Starts the close handshake and waits until the connection is Closed (at most the close
    /// timeout, then the socket is dropped). Messages that arrive meanwhile stay queued for the
    /// stream. Returns the final report.
    pub async fn close(&self, code: CloseCode, reason: &str) -> Result<Closed, Error> {
        match &self.repr {
            Repr::Whole(shared) => close(&**shared, code, reason).await,
            Repr::Shared(inner) => close(&**inner, code, reason).await,
        }
    }

    /// Drops the connection at once: unsent frames are discarded, the socket closed, and the
    /// report says 1006, `Outcome::Terminated`.
    pub fn terminate(&self) {
        match &self.repr {
            Repr::Whole(shared) => lock(shared).terminate(),
            Repr::Shared(inner) => inner.terminate(),
        }
    }

    /// Sends a message choosing whether it is compressed (Node `ws`'s `send(data, {compress})`),
    /// then flushes. [`Compression::Never`] is for data that is already compressed. Without
    /// permessage-deflate negotiated it sends as `SinkExt::send` does.
    pub async fn send_with(
        &mut self,
        message: Message,
        compression: Compression,
    ) -> Result<(), Error> {
        match &mut self.repr {
            Repr::Whole(shared) => send_with(get_mut(shared), message, compression).await,
            Repr::Shared(inner) => send_with(&**inner, message, compression).await,
        }
    }

    /// Whether permessage-deflate was negotiated.
    pub fn is_compressing(&self) -> bool {
        self.lock().conn.is_compressing()
    }

    /// Splits into a read half and a write half that can be used from different tasks.
    pub fn split(self) -> (ReadHalf<S, R>, WriteHalf<S, R>) {
        let inner = match self.repr {
            Repr::Whole(shared) => {
                Inner::new(shared.into_inner().unwrap_or_else(PoisonError::into_inner))
            }
            Repr::Shared(inner) => inner,
        };
        let control: Arc<dyn ReaderControl> = inner.clone();
        (
            ReadHalf {
                inner: inner.clone(),
                guard: ReaderGuard(Some(control)),
            },
            WriteHalf { inner },
        )
    }
}

fn lock<S: Transport, R: Runtime>(shared: &Mutex<Shared<S, R>>) -> MutexGuard<'_, Shared<S, R>> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

fn get_mut<S: Transport, R: Runtime>(shared: &mut Mutex<Shared<S, R>>) -> &mut Shared<S, R> {
    shared.get_mut().unwrap_or_else(PoisonError::into_inner)
}

impl<S: Transport, R: Runtime> ReadHalf<S, R> {
    /// Joins the halves again; they must come from the same `split`.
    pub fn reunite(self, write: WriteHalf<S, R>) -> Result<WebSocket<S, R>, ReuniteError<S, R>> {
        if Arc::ptr_eq(&self.inner, &write.inner) {
            let ReadHalf { inner, mut guard } = self;
            guard.0 = None; // reunited, not gone
            drop(guard);
            drop(write);
            // Whole again unless a monitor still holds on to the connection.
            let monitored = inner.lock().limits.monitored();
            let repr = match Arc::try_unwrap(inner) {
                Ok(inner) if !monitored => Repr::Whole(Box::new(inner.into_shared())),
                Ok(inner) => Repr::Shared(Arc::new(inner)),
                Err(inner) => Repr::Shared(inner),
            };
            Ok(WebSocket { repr })
        } else {
            Err(ReuniteError(self, write))
        }
    }

    /// The connection's state.
    pub fn state(&self) -> State {
        self.inner.lock().conn.state()
    }
}

impl<S: Transport, R: Runtime> WriteHalf<S, R> {
    /// See [`WebSocket::close`]; works after a split, while the read half is elsewhere.
    pub async fn close(&self, code: CloseCode, reason: &str) -> Result<Closed, Error> {
        close(&*self.inner, code, reason).await
    }

    /// See [`WebSocket::terminate`].
    pub fn terminate(&self) {
        self.inner.terminate();
    }

    /// See [`WebSocket::send_with`].
    pub async fn send_with(
        &mut self,
        message: Message,
        compression: Compression,
    ) -> Result<(), Error> {
        send_with(&*self.inner, message, compression).await
    }

    /// The connection's state.
    pub fn state(&self) -> State {
        self.inner.lock().conn.state()
    }

    /// Bytes queued and not yet written to the socket.
    pub fn buffered_amount(&self) -> usize {
        self.inner.lock().conn.buffered_amount()
    }
}

/// How a poll reaches the connection's state: through a lock (split halves, monitored
/// connections, the `&self` methods) or directly (a whole WebSocket's `&mut self` polls).
trait Access<S: Transport, R: Runtime> {
    /// Runs `f` on the state, without driving the connection.
    fn with<T>(&mut self, f: impl FnOnce(&mut Shared<S, R>) -> T) -> T;

    /// Runs `before`, drives the connection for `half` (registering `cx` with whatever it
    /// waits on), then runs `f`.
    fn poll_with<T>(
        &mut self,
        cx: &mut Context<'_>,
        half: Half,
        flush: Flush,
        before: impl FnOnce(&mut Shared<S, R>),
        f: impl FnOnce(&mut Shared<S, R>, &mut Context<'_>) -> T,
    ) -> T;
}

/// Reborrowing, for the `async` functions that poll several times.
impl<S: Transport, R: Runtime, A: Access<S, R>> Access<S, R> for &mut A {
    fn with<T>(&mut self, f: impl FnOnce(&mut Shared<S, R>) -> T) -> T {
        (**self).with(f)
    }

    fn poll_with<T>(
        &mut self,
        cx: &mut Context<'_>,
        half: Half,
        flush: Flush,
        before: impl FnOnce(&mut Shared<S, R>),
        f: impl FnOnce(&mut Shared<S, R>, &mut Context<'_>) -> T,
    ) -> T {
        (**self).poll_with(cx, half, flush, before, f)
    }
}

/// Split halves and monitored connections: the lock, and wakers that reach both halves.
impl<S: Transport, R: Runtime> Access<S, R> for &Inner<S, R> {
    fn with<T>(&mut self, f: impl FnOnce(&mut Shared<S, R>) -> T) -> T {
        f(&mut self.lock())
    }

    fn poll_with<T>(
        &mut self,
        cx: &mut Context<'_>,
        half: Half,
        flush: Flush,
        before: impl FnOnce(&mut Shared<S, R>),
        f: impl FnOnce(&mut Shared<S, R>, &mut Context<'_>) -> T,
    ) -> T {
        Inner::poll_with(self, cx, half, flush, before, f)
    }
}

/// A whole WebSocket polled through `&mut self`: one task owns it, so it drives the connection
/// with that task's waker.
impl<S: Transport, R: Runtime> Access<S, R> for Shared<S, R> {
    fn with<T>(&mut self, f: impl FnOnce(&mut Shared<S, R>) -> T) -> T {
        f(self)
    }

    fn poll_with<T>(
        &mut self,
        cx: &mut Context<'_>,
        half: Half,
        flush: Flush,
        before: impl FnOnce(&mut Shared<S, R>),
        f: impl FnOnce(&mut Shared<S, R>, &mut Context<'_>) -> T,
    ) -> T {
        before(self);
        self.drive(cx, half, flush);
        f(self, cx)
    }
}

/// A whole WebSocket through `&self` (`close`): the same, under its mutex.
impl<S: Transport, R: Runtime> Access<S, R> for &Mutex<Shared<S, R>> {
    fn with<T>(&mut self, f: impl FnOnce(&mut Shared<S, R>) -> T) -> T {
        f(&mut lock(self))
    }

    fn poll_with<T>(
        &mut self,
        cx: &mut Context<'_>,
        half: Half,
        flush: Flush,
        before: impl FnOnce(&mut Shared<S, R>),
        f: impl FnOnce(&mut Shared<S, R>, &mut Context<'_>) -> T,
    ) -> T {
        lock(self).poll_with(cx, half, flush, before, f)
    }
}

async fn close<S: Transport, R: Runtime>(
    mut access: impl Access<S, R>,
    code: CloseCode,
    reason: &str,
) -> Result<Closed, Error> {
    access.with(|shared| {
        let now = shared.now();
        shared.conn.close(now, code, reason)
    })?;
    poll_fn(|cx| {
        access.poll_with(
            cx,
            Half::Write,
            Flush::Now,
            release_hold,
            |shared, _| match shared.closed() {
                Some(closed) => Poll::Ready(Ok(closed.clone())),
                None => Poll::Pending,
            },
        )
    })
    .await
}

/// The application came back (to read, flush or close): a held failure may proceed.
fn release_hold<S: Transport, R: Runtime>(shared: &mut Shared<S, R>) {
    shared.hold_failure = false;
}

/// The next queued message, if any (events that are not messages are dropped on the way).
#[inline]
fn pop_message<S: Transport, R: Runtime>(shared: &mut Shared<S, R>) -> Option<Message> {
    while let Some(event) = shared.next_event() {
        if let Some(message) = Message::from_event(event) {
            // If a bad frame followed this message, let the application answer it first.
            shared.hold_failure = shared.conn.failure_pending();
            return Some(message);
        }
    }
    None
}

fn poll_next<S: Transport, R: Runtime>(
    mut access: impl Access<S, R>,
    cx: &mut Context<'_>,
) -> Poll<Option<Result<Message, Error>>> {
    // Fast path: messages read earlier are handed over without driving the connection.
    // Driving would do nothing useful: no read while messages wait, no write before the
    // reader runs dry, and the timer wakes the task on its own.
    let queued = access.with(|shared| {
        if shared.conn.queued_events() == 0 {
            return None;
        }
        release_hold(shared);
        pop_message(shared)
    });
    if let Some(message) = queued {
        return Poll::Ready(Some(Ok(message)));
    }
    access.poll_with(
        cx,
        Half::Read,
        Flush::WhenIdle,
        release_hold,
        |shared, cx| {
            if let Some(message) = pop_message(shared) {
                return Poll::Ready(Some(Ok(message)));
            }
            let Some(closed) = shared.finished().cloned() else {
                if !shared.end_read_turn(cx) {
                    shared.shrink_if_idle(cx);
                }
                return Poll::Pending;
            };
            if shared.end_reported {
                return Poll::Ready(None);
            }
            shared.end_reported = true;
            let clean =
                closed.was_clean && matches!(closed.outcome, Outcome::Clean | Outcome::EofTimeout);
            if clean {
                Poll::Ready(None)
            } else {
                Poll::Ready(Some(Err(Error::ConnectionLost(Box::new(closed)))))
            }
        },
    )
}

fn poll_ready<S: Transport, R: Runtime>(
    mut access: impl Access<S, R>,
    cx: &mut Context<'_>,
) -> Poll<Result<(), Error>> {
    if access.with(|shared| shared.room_to_queue()) {
        // Fast path: a drive would not write yet (corked), so there is nothing to drive.
        return Poll::Ready(Ok(()));
    }
    access.poll_with(
        cx,
        Half::Write,
        Flush::Corked,
        |_| {},
        |shared, _| {
            if shared.conn.state() == State::Open
                && shared.conn.buffered_amount() >= shared.limits.write_high_water_mark
            {
                // The drive above registered for writability.
                Poll::Pending
            } else {
                Poll::Ready(Ok(()))
            }
        },
    )
}

async fn send_with<S: Transport, R: Runtime>(
    mut access: impl Access<S, R>,
    message: Message,
    compression: Compression,
) -> Result<(), Error> {
    poll_fn(|cx| poll_ready(&mut access, cx)).await?;
    access.with(|shared| start_send(shared, message, compression))?;
    poll_fn(|cx| poll_flush(&mut access, cx)).await
}

fn start_send<S: Transport, R: Runtime>(
    shared: &mut Shared<S, R>,
    message: Message,
    compression: Compression,
) -> Result<(), Error> {
    let conn = &mut shared.conn;
    let result = match message {
        Message::Text(text) => conn.send_text_owned(text, compression),
        Message::Binary(data) => conn.send_binary_owned(data, compression),
        Message::Ping(data) => conn.send_ping(&data),
        Message::Pong(data) => conn.send_pong(&data),
        Message::Prepared(prepared) => conn.send_prepared(&prepared),
        Message::Fragment(fragment) => {
            conn.send_fragment(fragment.kind, &fragment.data, fragment.last)
        }
        Message::Close(frame) => {
            let now = shared.now();
            let (code, reason) = match &frame {
                Some(frame) => (frame.code, frame.reason.as_str()),
                None => (CloseCode::NO_STATUS, ""),
            };
            shared.conn.close(now, code, reason)
        }
    };
    result.map_err(|e| match e {
        CommandError::NotOpen(_) => Error::AlreadyClosed,
        other => Error::Command(other),
    })
}

fn poll_flush<S: Transport, R: Runtime>(
    mut access: impl Access<S, R>,
    cx: &mut Context<'_>,
) -> Poll<Result<(), Error>> {
    access.poll_with(cx, Half::Write, Flush::Now, release_hold, |shared, _| {
        if shared.is_flushed() {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    })
}

fn poll_close<S: Transport, R: Runtime>(
    mut access: impl Access<S, R>,
    cx: &mut Context<'_>,
) -> Poll<Result<(), Error>> {
    access.with(|shared| {
        if shared.conn.state() == State::Open {
            let now = shared.now();
            // A valid code: cannot fail.
            let _ = shared.conn.close(now, CloseCode::NORMAL, "");
        }
    });
    access.poll_with(cx, Half::Write, Flush::Now, release_hold, |shared, _| {
        if shared.finished().is_some() {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    })
}

/// Runs `$body` with `$access` bound to the [`Access`] of `$ws`, a `&mut WebSocket`.
macro_rules! with_access {
    ($ws:expr, $access:ident => $body:expr) => {
        match &mut $ws.repr {
            Repr::Whole(shared) => {
                let $access = get_mut(shared);
                $body
            }
            Repr::Shared(inner) => {
                let $access = &**inner;
                $body
            }
        }
    };
}

impl<S: Transport, R: Runtime> Stream for WebSocket<S, R> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        with_access!(self.get_mut(), access => poll_next(access, cx))
    }
}

impl<S: Transport, R: Runtime> Stream for ReadHalf<S, R> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        poll_next(&*self.inner, cx)
    }
}

impl<S: Transport, R: Runtime> Sink<Message> for WebSocket<S, R> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        with_access!(self.get_mut(), access => poll_ready(access, cx))
    }
    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Error> {
        match &mut self.get_mut().repr {
            Repr::Whole(shared) => start_send(get_mut(shared), message, Compression::Auto),
            Repr::Shared(inner) => start_send(&mut inner.lock(), message, Compression::Auto),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        with_access!(self.get_mut(), access => poll_flush(access, cx))
    }
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        with_access!(self.get_mut(), access => poll_close(access, cx))
    }
}

impl<S: Transport, R: Runtime> Sink<Message> for WriteHalf<S, R> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        poll_ready(&*self.inner, cx)
    }
    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Error> {
        start_send(&mut self.inner.lock(), message, Compression::Auto)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        poll_flush(&*self.inner, cx)
    }
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        poll_close(&*self.inner, cx)
    }
}

/// A fragment of a message, to send through the `Sink`: the first one's `kind` starts the
/// message, `last` ends it.
pub fn fragment(kind: MessageKind, data: impl Into<bytes::Bytes>, last: bool) -> Message {
    Message::Fragment(ws_proto::Fragment {
        kind,
        data: data.into(),
        first: false,
        last,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    use ws_proto::Role;

    /// A client that never stops sending: every read returns a full buffer of the same masked
    /// 1 KiB binary frame, over and over. Writes are taken whole.
    struct Flood {
        frame: Vec<u8>,
        at: usize,
    }

    impl Flood {
        fn new() -> Flood {
            let mask = [1, 2, 3, 4];
            let mut frame = vec![0x82, 0xfe, 0x04, 0x00];
            frame.extend_from_slice(&mask);
            frame.extend((0..1024).map(|i| (i as u8) ^ mask[i % 4]));
            Flood { frame, at: 0 }
        }
    }

    impl Transport for Flood {
        fn poll_read(&mut self, _: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
            for byte in buf.iter_mut() {
                *byte = self.frame[self.at];
                self.at = (self.at + 1) % self.frame.len();
            }
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_write(&mut self, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// A runtime whose turn is `TURN` bytes (none for 0) and whose timers never fire.
    struct Turns<const TURN: u32>;

    impl<const TURN: u32> Runtime for Turns<TURN> {
        type Timer = ();
        const READ_TURN: Option<u32> = if TURN == 0 { None } else { Some(TURN) };
        fn now() -> std::time::Instant {
            std::time::Instant::now()
        }
        fn timer(_: std::time::Instant) {}
        fn reset(_: &mut (), _: std::time::Instant) {}
        fn poll_timer(_: &mut (), _: &mut Context<'_>) -> Poll<()> {
            Poll::Pending
        }
    }

    struct CountWakes(AtomicUsize);

    impl Wake for CountWakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Messages handed over before the first `Pending` (at most `limit`), and the wakes by then.
    fn messages_in_one_turn<R: Runtime>(limit: usize) -> (usize, usize) {
        let config = Config {
            read_buffer_size: 16 * 1024,
            ..Config::default()
        };
        let mut ws = WebSocket::<Flood, R>::from_raw_socket(Flood::new(), Role::Server, config);
        let wakes = Arc::new(CountWakes(AtomicUsize::new(0)));
        let waker = Waker::from(wakes.clone());
        let mut cx = Context::from_waker(&waker);
        for count in 0..limit {
            match Pin::new(&mut ws).poll_next(&mut cx) {
                Poll::Ready(Some(Ok(Message::Binary(data)))) => assert_eq!(data.len(), 1024),
                Poll::Pending => return (count, wakes.0.load(Ordering::SeqCst)),
                other => panic!("unexpected {other:?}"),
            }
        }
        (limit, wakes.0.load(Ordering::SeqCst))
    }

    /// A peer that keeps the socket full does not keep the reader's task: after its turn's
    /// bytes it yields once, waking itself to come back.
    #[test]
    fn a_socket_that_never_runs_dry_ends_the_readers_turn() {
        let (messages, wakes) = messages_in_one_turn::<Turns<{ 64 * 1024 }>>(100_000);
        // 64 KiB of 1,032-byte frames is 63.5 of them; the read that crosses the line brings
        // up to 16 KiB more.
        assert!(
            (63..=80).contains(&messages),
            "{messages} messages in one turn"
        );
        assert_eq!(wakes, 1, "the reader wakes itself to come back");
    }

    /// Without a turn (tokio bounds a task's turn itself) the reader reads on.
    #[test]
    fn without_a_turn_the_reader_reads_on() {
        let (messages, wakes) = messages_in_one_turn::<Turns<0>>(10_000);
        assert_eq!((messages, wakes), (10_000, 0));
    }
}
