//! The opening handshakes, run over an async transport.

use crate::config::{Config, Settings};
use crate::error::Error;
use crate::random::{handshake_key, OsMasks};
use crate::runtime::{Runtime, Transport};
use crate::shared::{instant_after, with_read_buf};
use crate::websocket::WebSocket;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use std::future::{poll_fn, Future};
use std::marker::PhantomData;
use std::task::Poll;
use ws_proto::handshake::{Accept, ClientAction, ClientHandshake, ServerAction, ServerHandshake};
use ws_proto::Instant;

/// What the application decides about an incoming request.
#[derive(Debug)]
pub enum Decision {
    /// Upgrade, with an optional subprotocol and extra response headers.
    Accept(Accept),
    /// Answer with this response instead: a refusal (401, 403, ...) or a plain HTTP page.
    Respond(Response<Bytes>),
}

impl Decision {
    /// Upgrade with no subprotocol and no extra headers.
    pub fn accept() -> Decision {
        Decision::Accept(Accept::default())
    }

    /// Upgrade choosing `subprotocol` (one the client offered).
    pub fn accept_subprotocol(subprotocol: impl Into<String>) -> Decision {
        Decision::Accept(Accept {
            subprotocol: Some(subprotocol.into()),
            ..Accept::default()
        })
    }
}

/// A transport, a clock and a timer for the duration of a handshake. Reads go through the
/// thread's shared read buffer (the handshake machines copy what they keep), so a burst of
/// concurrent handshakes does not touch a read buffer each.
struct HandshakeIo<S, R: Runtime> {
    io: S,
    epoch: std::time::Instant,
    read_size: usize,
    timer: Option<R::Timer>,
    runtime: PhantomData<R>,
}

/// What a handshake read brought. The bytes were handed to the handshake machine already.
enum Input {
    Bytes,
    Eof,
    Timeout,
}

/// What a finished handshake hands over to become a [`WebSocket`].
///
/// The WebSocket is built only after the boxed handshake (its future, parser, request and
/// response buffers) has been freed, so its state can take the place they leave in the heap:
/// built inside the handshake, it landed past them, and a server accepting thousands of
/// connections kept a hole of the handshake's size next to every one of them.
struct Opened<S, R: Runtime> {
    hio: HandshakeIo<S, R>,
    connection: ws_proto::Connection,
    settings: Settings,
}

impl<S: Transport, R: Runtime> Opened<S, R> {
    fn into_websocket(self) -> WebSocket<S, R> {
        let Opened {
            hio,
            connection,
            settings,
        } = self;
        WebSocket::with_timer(hio.io, connection, hio.epoch, settings, hio.timer)
    }
}

impl<S: Transport, R: Runtime> HandshakeIo<S, R> {
    /// Starts the handshake's clock, and its timer at the handshake timeout (where the
    /// handshake machine's deadline will be). The timer is made here, before the handshake's
    /// boxed state and buffers: it lives on as the connection's timer, and allocated first it
    /// sits with the connection's other long-lived allocations instead of between the holes the
    /// handshake's transient ones leave.
    fn new(io: S, config: &Config) -> Self {
        let epoch = R::now();
        HandshakeIo {
            io,
            epoch,
            read_size: config.read_buffer_size.clamp(1, 16 * 1024),
            timer: Some(R::timer(instant_after(
                epoch,
                config.protocol.handshake_timeout,
            ))),
            runtime: PhantomData,
        }
    }

    fn now(&self) -> Instant {
        Instant::from_duration(R::now().saturating_duration_since(self.epoch))
    }

    async fn write_all(&mut self, mut data: &[u8]) -> Result<(), Error> {
        while !data.is_empty() {
            let n = poll_fn(|cx| self.io.poll_write(cx, data)).await?;
            if n == 0 {
                return Err(Error::Io(std::io::ErrorKind::WriteZero.into()));
            }
            data = &data[n..];
        }
        poll_fn(|cx| self.io.poll_flush(cx)).await?;
        Ok(())
    }

    /// Waits for bytes (handed to `handle` with the time they arrived), EOF, or `deadline`.
    ///
    /// Arms the timer at once and returns a `poll_fn`, not an `async fn`: the handshake's
    /// future holds this one while it waits, and an `async fn` kept its arguments twice over
    /// (128 bytes against 24).
    fn read<'a>(
        &'a mut self,
        deadline: Option<Instant>,
        mut handle: impl FnMut(Instant, &[u8]) + 'a,
    ) -> impl Future<Output = Result<Input, Error>> + 'a {
        if let Some(deadline) = deadline {
            let at = instant_after(self.epoch, deadline.as_duration());
            match &mut self.timer {
                Some(timer) => R::reset(timer, at),
                None => self.timer = Some(R::timer(at)),
            }
        }
        let timed = deadline.is_some();
        poll_fn(move |cx| {
            let epoch = self.epoch;
            let read = with_read_buf(self.read_size, |buf| {
                let read = self.io.poll_read(cx, buf);
                if let Poll::Ready(Ok(n)) = read {
                    if n > 0 {
                        let now = R::now().saturating_duration_since(epoch);
                        handle(Instant::from_duration(now), &buf[..n]);
                    }
                }
                read
            });
            match read {
                Poll::Ready(Ok(0)) => return Poll::Ready(Ok(Input::Eof)),
                Poll::Ready(Ok(_)) => return Poll::Ready(Ok(Input::Bytes)),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(Error::Io(e))),
                Poll::Pending => {}
            }
            if let (true, Some(timer)) = (timed, self.timer.as_mut()) {
                if R::poll_timer(timer, cx).is_ready() {
                    return Poll::Ready(Ok(Input::Timeout));
                }
            }
            Poll::Pending
        })
    }
}

/// Runs the client handshake for `request` over `io` and returns the open WebSocket and the
/// server's 101 response.
///
/// The handshake's state (parser, buffers, settings) lives in a box freed when it ends: an
/// `async` task that awaits it then stays the size of what it holds afterwards, instead of
/// carrying the handshake's size for the life of the connection.
pub fn client_handshake<S: Transport, R: Runtime>(
    io: S,
    request: Request<()>,
    config: Config,
) -> impl Future<Output = Result<(WebSocket<S, R>, Response<()>), Error>> {
    let hio = HandshakeIo::<S, R>::new(io, &config);
    let (protocol, settings) = config.split();
    let hs = ClientHandshake::new(
        hio.now(),
        request,
        handshake_key(),
        protocol,
        OsMasks::default(),
    );
    let handshake = hs.map(|hs| Box::pin(run_client_handshake(hio, hs, settings)));
    async move {
        let (opened, response) = handshake?.await?;
        Ok((opened.into_websocket(), response))
    }
}

/// Not an `async fn`, for the reason [`run_server_handshake`] gives.
#[allow(clippy::manual_async_fn)] // deliberately not an `async fn`: see above
fn run_client_handshake<S: Transport, R: Runtime>(
    mut hio: HandshakeIo<S, R>,
    mut hs: ClientHandshake,
    settings: Settings,
) -> impl Future<Output = Result<(Opened<S, R>, Response<()>), Error>> {
    async move {
        let mut out = Vec::new();
        loop {
            while let Some(action) = hs.poll(&mut out) {
                match action {
                    ClientAction::Transmit(_) => {
                        hio.write_all(&out).await?;
                        out.clear();
                    }
                    ClientAction::Open(upgrade) => {
                        tracing::debug!(status = %upgrade.response.status(), "client handshake done");
                        let opened = Opened {
                            hio,
                            connection: upgrade.connection,
                            settings,
                        };
                        return Ok((opened, upgrade.response));
                    }
                    ClientAction::Failed(e) => return Err(Error::Handshake(e)),
                    _ => {}
                }
            }
            let deadline = hs.poll_timeout();
            let input = hio
                .read(deadline, |now, bytes| hs.handle_read(now, bytes))
                .await?;
            let now = hio.now();
            match input {
                Input::Bytes => {}
                Input::Eof => hs.handle_eof(now),
                Input::Timeout => hs.handle_timeout(now),
            }
        }
    }
}

/// Runs the server handshake over `io`. `decide` sees every request (WebSocket upgrades and
/// plain HTTP alike) and accepts or answers it. A request that is not a valid upgrade gets the
/// right HTTP error without reaching `decide`.
///
/// Like [`client_handshake`], the handshake's state lives in a box freed when it ends, so a
/// task serving the connection is not sized for it.
pub fn server_handshake<S: Transport, R: Runtime>(
    io: S,
    config: Config,
    decide: impl FnOnce(&Request<()>) -> Decision,
) -> impl Future<Output = Result<WebSocket<S, R>, Error>> {
    let hio = HandshakeIo::<S, R>::new(io, &config);
    let (protocol, settings) = config.split();
    let connecting = settings.monitor.as_ref().map(|m| m.handshake_started());
    let hs = ServerHandshake::new(hio.now(), protocol);
    let handshake = Box::pin(run_server_handshake(hio, hs, settings, connecting, decide));
    async move {
        let mut ws = handshake.await?.into_websocket();
        // The 101 is the connection's first output: send it now, so the client is not kept
        // waiting until the application first polls.
        poll_fn(|cx| {
            futures_sink::Sink::<crate::Message>::poll_flush(std::pin::Pin::new(&mut ws), cx)
        })
        .await?;
        Ok(ws)
    }
}

/// Not an `async fn`: its parameters would be kept twice in the future (as captured and as
/// moved into the body; 224 bytes here), and the future is a heap allocation of every
/// connection while it handshakes, whose size decides how the connection's later allocations
/// fit in the memory it frees. An `async move` block uses what it captured in place, and what
/// it would only move elsewhere (the protocol settings into the handshake machine) is moved
/// before, so the future does not keep an empty slot for it either. `connecting`: the
/// monitor's count of handshakes in progress, held until the handshake ends.
#[allow(clippy::manual_async_fn)] // deliberately not an `async fn`: see above
fn run_server_handshake<S: Transport, R: Runtime>(
    mut hio: HandshakeIo<S, R>,
    mut hs: ServerHandshake,
    settings: Settings,
    connecting: Option<crate::monitor::ConnectingGuard>,
    decide: impl FnOnce(&Request<()>) -> Decision,
) -> impl Future<Output = Result<Opened<S, R>, Error>> {
    async move {
        // Captured (a move block takes whatever it names), so it lives as long as the future.
        let _ = &connecting;
        let mut decide = Some(decide);
        let mut refused: Option<StatusCode> = None;
        let mut closed = false;
        let mut eof_seen = false;
        let mut out = Vec::new();
        loop {
            while let Some(action) = hs.poll(&mut out) {
                match action {
                    ServerAction::Transmit(_) => {
                        hio.write_all(&out).await?;
                        out.clear();
                    }
                    ServerAction::ShutdownWrite => {
                        let _ = poll_fn(|cx| hio.io.poll_shutdown(cx)).await;
                    }
                    // The reason, if the handshake failed, follows as `Failed`.
                    ServerAction::CloseSocket => closed = true,
                    ServerAction::Request(request) => {
                        let Some(decide) = decide.take() else {
                            continue;
                        };
                        let now = hio.now();
                        let is_upgrade = hs.is_upgrade_request();
                        match decide(&request) {
                            Decision::Accept(accept) => match hs.accept(now, accept) {
                                Ok(upgrade) => {
                                    tracing::debug!(uri = %request.uri(), "server handshake done");
                                    return Ok(Opened {
                                        hio,
                                        connection: upgrade.connection,
                                        settings,
                                    });
                                }
                                // A plain HTTP request accepted: the handshake answered 426.
                                Err(_) if !is_upgrade => {
                                    refused = Some(StatusCode::UPGRADE_REQUIRED)
                                }
                                // The application's answer was unusable (a subprotocol the client
                                // did not offer, an invalid header): answer 500 and end.
                                Err(e) => {
                                    tracing::debug!(error = %e, "accept failed");
                                    refused = Some(StatusCode::INTERNAL_SERVER_ERROR);
                                    let response = Response::builder()
                                        .status(StatusCode::INTERNAL_SERVER_ERROR)
                                        .body(Bytes::from_static(
                                            b"upgrade refused by the server\n",
                                        ))
                                        .map_err(|_| Error::Handshake(e))?;
                                    hs.reject(response)?;
                                }
                            },
                            Decision::Respond(response) => {
                                refused = Some(response.status());
                                hs.reject(response)?;
                            }
                        }
                    }
                    ServerAction::Failed(e) => return Err(Error::Handshake(e)),
                    _ => {}
                }
            }
            if closed {
                return Err(match refused {
                    Some(status) => Error::Refused(status),
                    None => Error::Handshake(ws_proto::HandshakeError::UnexpectedEof),
                });
            }
            let deadline = hs.poll_timeout();
            let input = hio
                .read(deadline, |now, bytes| hs.handle_read(now, bytes))
                .await?;
            let now = hio.now();
            match input {
                Input::Bytes => {}
                // A second EOF means the handshake has nothing more to do with this peer.
                Input::Eof if eof_seen => {
                    return Err(Error::Handshake(ws_proto::HandshakeError::UnexpectedEof))
                }
                Input::Eof => {
                    eof_seen = true;
                    hs.handle_eof(now);
                }
                Input::Timeout => hs.handle_timeout(now),
            }
        }
    }
}
