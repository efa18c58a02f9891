//! What a runtime must provide: a byte transport and a clock with a timer.
//!
//! The adapters implement these for their runtime (tokio's `AsyncRead`/`AsyncWrite` and `Sleep`;
//! `futures-io` and `async-io`'s `Timer` for smol and async-std); everything else is shared.

use bytes::BytesMut;
use std::io::{self, IoSlice};
use std::task::{Context, Poll};
use std::time::Instant;

/// A bidirectional byte stream: a TCP socket, a TLS stream, or an already-upgraded HTTP connection.
pub trait Transport: Unpin + Send + 'static {
    /// Reads into `buf`; `Ok(0)` is end of stream.
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>;
    /// Reads part of a large frame's payload (256 KiB and up) straight into its message; `Ok(0)`
    /// is end of stream. The default is [`poll_read`](Self::poll_read). A runtime that, after
    /// a read shorter than the buffer, waits for the reactor's next readiness event before
    /// reading again (tokio) should read again here instead and wait only once the socket
    /// reports it is empty: a large frame keeps arriving while its first part is read, and
    /// the detour through the reactor cost a server 6-24 % more CPU per 1 MiB message on
    /// loopback (see ws-tokio's `TokioIo`).
    fn poll_read_direct(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_read(cx, buf)
    }
    /// Whether [`poll_read_buf`](Self::poll_read_buf) reads into a buffer's spare capacity
    /// without zero-filling it first. The driver then reads into a `BytesMut` it can take apart,
    /// and large messages reach the application as slices of it, not copies.
    fn reads_into_spare_capacity(&self) -> bool {
        false
    }
    /// Reads at most `limit` bytes, appending them to `buf`; `Ok(0)` is end of stream. The
    /// default zero-fills the room first and calls [`poll_read`](Self::poll_read).
    fn poll_read_buf(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
        limit: usize,
    ) -> Poll<io::Result<usize>> {
        let start = buf.len();
        buf.resize(start + limit, 0);
        let result = self.poll_read(cx, &mut buf[start..]);
        let n = match result {
            Poll::Ready(Ok(n)) => n,
            _ => 0,
        };
        buf.truncate(start + n);
        result
    }
    /// Writes from `buf`.
    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>>;
    /// Writes from several buffers in order, in one call where the transport can (`writev`).
    /// The default writes the first non-empty one.
    fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let first = bufs
            .iter()
            .find(|b| !b.is_empty())
            .map_or(&[][..], |b| &b[..]);
        self.poll_write(cx, first)
    }
    /// Whether [`poll_write_vectored`](Self::poll_write_vectored) writes more than one buffer
    /// per call; when not, the driver writes buffer by buffer.
    fn is_write_vectored(&self) -> bool {
        false
    }
    /// Flushes buffered writes (a TLS layer's records).
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Shuts down the write side (TCP FIN; TLS close_notify first).
    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

/// A runtime's clock and timer. The clock is the runtime's own, so tokio's paused time drives
/// every WebSocket timer in tests.
pub trait Runtime: Send + Sync + 'static {
    /// A one-shot timer that can be re-armed.
    type Timer: Send + Unpin;
    /// Bytes the read half may take from a socket that does not run dry before its task
    /// yields once (wakes itself and returns `Pending`), so that one connection whose peer keeps
    /// its socket full cannot hold the executor from the others. `None` where the runtime bounds
    /// a task's turn itself: tokio's cooperative budget makes every socket operation count, and
    /// ends a turn after 128 of them.
    const READ_TURN: Option<u32> = None;
    /// The current time.
    fn now() -> Instant;
    /// A timer firing at `deadline`.
    fn timer(deadline: Instant) -> Self::Timer;
    /// Re-arms `timer` for `deadline`.
    fn reset(timer: &mut Self::Timer, deadline: Instant);
    /// Ready once the deadline has passed.
    fn poll_timer(timer: &mut Self::Timer, cx: &mut Context<'_>) -> Poll<()>;
    /// Whether `timer`, armed for `deadline`, may have fired: the driver polls an armed timer
    /// only then (polling registers a waker, which costs a clone on some runtimes). It must not
    /// say no once the timer has woken its task. By default the clock decides; a runtime whose
    /// timer knows without a clock read says so. `deadline` computes the instant the timer is
    /// armed for; it is a closure so that such a runtime does not pay for computing it.
    fn timer_elapsed(timer: &Self::Timer, deadline: impl FnOnce() -> Instant) -> bool {
        let _ = timer;
        Self::now() >= deadline()
    }
}

#[cfg(feature = "async-io")]
mod futures_io_support {
    use super::*;
    use futures_io::{AsyncRead, AsyncWrite};
    use std::pin::Pin;

    /// Adapts any `futures-io` stream (smol's and async-std's sockets, futures-rustls) to
    /// [`Transport`].
    #[derive(Debug)]
    pub struct FuturesIo<S>(pub S);

    impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Transport for FuturesIo<S> {
        fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
            Pin::new(&mut self.0).poll_read(cx, buf)
        }
        fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
            Pin::new(&mut self.0).poll_write(cx, buf)
        }
        fn poll_write_vectored(
            &mut self,
            cx: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
        }
        fn is_write_vectored(&self) -> bool {
            // futures-io cannot tell; its sockets (async-io's `Async<TcpStream>`) use `writev`.
            true
        }
        fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.0).poll_flush(cx)
        }
        fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            // futures-io's `poll_close` on a TCP stream shuts down the write side.
            Pin::new(&mut self.0).poll_close(cx)
        }
    }

    /// The `async-io` reactor's timer, which smol and async-std both run on.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct AsyncIo;

    impl Runtime for AsyncIo {
        type Timer = async_io::Timer;
        /// async-io's sockets are ready for as long as they hold bytes, and neither smol's nor
        /// async-std's executor limits a task's turn: a client that keeps a server's socket full
        /// (several large messages in flight, each answer sent at once) kept its task running
        /// and the other connections waiting. 100 connections echoing 64 KiB messages, 8 in
        /// flight each: p99 round trip 136 ms (ws-smol) and 216 ms (ws-async-std) without a
        /// turn, 37 and 38 ms with this one (26 ms with 256 KiB turns). Direct
        /// reads of large frames do not count (see `Shared::read`).
        const READ_TURN: Option<u32> = Some(1024 * 1024);

        fn now() -> Instant {
            Instant::now()
        }
        fn timer(deadline: Instant) -> async_io::Timer {
            async_io::Timer::at(deadline)
        }
        fn reset(timer: &mut async_io::Timer, deadline: Instant) {
            timer.set_at(deadline);
        }
        fn poll_timer(timer: &mut async_io::Timer, cx: &mut Context<'_>) -> Poll<()> {
            std::future::Future::poll(Pin::new(timer), cx).map(|_| ())
        }
    }
}

#[cfg(feature = "async-io")]
pub use futures_io_support::{AsyncIo, FuturesIo};
