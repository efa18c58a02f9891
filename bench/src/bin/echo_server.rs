//! `echo_server IMPL ADDR [burst]`: one WebSocket echo server per implementation, all alike,
//! for `scripts/bench` to compare server CPU per message.
//!
//! IMPL is one of `ws-tokio`, `ws-smol`, `ws-smol-async` (ws-smol accepting
//! `smol::Async<std::net::TcpStream>` instead of `smol::net::TcpStream`), `ws-async-std`,
//! `tungstenite` (tokio-tungstenite,
//! default config), `tungstenite-4k` (tokio-tungstenite with 4 KiB read and write buffers),
//! `fastwebsockets` (FragmentCollector, auto close/pong, hand-written HTTP upgrade),
//! `tokio-websockets` (default config) and `raw-tcp` (no WebSocket at all: a TCP echo, the
//! physical ceiling).
//!
//! Every server runs on ONE thread: a tokio current_thread runtime, except ws-smol (a
//! `smol::LocalExecutor` run by `smol::block_on`) and ws-async-std (`async_std::task::block_on`
//! with `spawn_local`; see [`async_std_main`]). Each accepts forever (backlog 1024, as
//! `ws_tokio::listen` does, with TCP_NODELAY), spawns one task per connection, echoes every
//! Text/Binary message, leaves Ping/Close to the library (all of them answer Ping and Close
//! themselves), and prints `listening ADDR` once bound (ADDR with the real port when given 0).
//!
//! Batching: the Stream + Sink libraries (ws-tokio, ws-smol, ws-async-std, tokio-tungstenite,
//! tokio-websockets) take every message that is already readable, `feed` them all and `flush`
//! once per batch (see [`echo_batched`]); whether that becomes one write per batch is up to the
//! library. fastwebsockets has no separate flush on `FragmentCollector` (its `write_frame`
//! writes straight to the socket), so it sends once per message, which is how it is meant to be
//! used. raw-tcp writes back each read as it came.
//!
//! With the third argument `burst`, every connection runs a one-way burst instead of the echo
//! (see [`Command`]); the echo code path is not touched by it. The first text message (for
//! raw-tcp: the first line) is the command:
//!
//! - `upload N S`: the client sends binary messages and then the text message `done`; the
//!   server counts them and their payload bytes and answers the text message `COUNT BYTES`.
//!   (The Stream + Sink servers and fastwebsockets ignore N and S: they count what comes.)
//! - `burst N S batched|permsg`: the server sends N binary messages of S bytes (all `b`), then
//!   the text message `done`. `batched`: `feed` each message and `flush` once at the end (the
//!   library's backpressure decides when it writes meanwhile); `permsg`: `send` (feed + flush)
//!   each. For fastwebsockets and raw-tcp see [`fastwebsockets_burst`] and [`raw_tcp_burst`].
//!
//! After that, the connection reads on until the client closes (the library answers its Close).

use bytes::Bytes;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::task::Poll;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Impl {
    WsTokio,
    WsSmol,
    WsSmolAsync,
    WsAsyncStd,
    Tungstenite,
    Tungstenite4k,
    FastWebSockets,
    TokioWebSockets,
    RawTcp,
}

impl Impl {
    fn parse(name: &str) -> Option<Impl> {
        Some(match name {
            "ws-tokio" => Impl::WsTokio,
            "ws-smol" => Impl::WsSmol,
            "ws-smol-async" => Impl::WsSmolAsync,
            "ws-async-std" => Impl::WsAsyncStd,
            "tungstenite" => Impl::Tungstenite,
            "tungstenite-4k" => Impl::Tungstenite4k,
            "fastwebsockets" => Impl::FastWebSockets,
            "tokio-websockets" => Impl::TokioWebSockets,
            "raw-tcp" => Impl::RawTcp,
            _ => return None,
        })
    }
}

/// What every connection does: echo (the default) or one burst (`burst` on the command line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Echo,
    Burst,
}

fn usage() -> ! {
    eprintln!(
        "usage: echo_server IMPL ADDR [burst]\n  IMPL: ws-tokio | ws-smol | ws-smol-async | \
         ws-async-std | tungstenite | tungstenite-4k | fastwebsockets | tokio-websockets | raw-tcp"
    );
    std::process::exit(2)
}

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let which = args
        .next()
        .and_then(|s| Impl::parse(&s))
        .unwrap_or_else(|| usage());
    let addr: SocketAddr = args
        .next()
        .unwrap_or_else(|| usage())
        .parse()
        .unwrap_or_else(|_| usage());
    let mode = match args.next().as_deref() {
        None => Mode::Echo,
        Some("burst") => Mode::Burst,
        Some(_) => usage(),
    };
    if args.next().is_some() {
        usage();
    }
    match which {
        Impl::WsSmol => smol_main(addr, mode, SmolSocket::Net),
        Impl::WsSmolAsync => smol_main(addr, mode, SmolSocket::Async),
        Impl::WsAsyncStd => async_std_main(addr, mode),
        _ => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(serve(which, addr, mode)),
    }
}

fn print_listening(addr: SocketAddr) -> io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening {addr}")?;
    out.flush()
}

fn verbose_error(result: Result<(), BoxError>) {
    if let Err(e) = result {
        if std::env::var_os("ECHO_SERVER_VERBOSE").is_some() {
            eprintln!("connection: {e}");
        }
    }
}

/// A std listener with the same options as [`listen`] (backlog 1024, SO_REUSEADDR), for the
/// async-io based servers to wrap.
fn std_listener(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    notsent_lowat_from_env(&socket)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// ws-smol on one thread: a `smol::LocalExecutor` driven by `smol::block_on`, which also runs
/// the async-io reactor on this thread while the executor has nothing to do. (async-io keeps a
/// helper thread that drives the reactor only while no `block_on` does; it sleeps here. Its
/// CPU time, if any, is counted: the driver sums every thread of the process.)
fn smol_main(addr: SocketAddr, mode: Mode, socket: SmolSocket) -> io::Result<()> {
    let ex = smol::LocalExecutor::new();
    smol::block_on(ex.run(async {
        let listener = smol::Async::new(std_listener(addr)?)?;
        print_listening(listener.get_ref().local_addr()?)?;
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    eprintln!("accept: {e}");
                    smol::Timer::after(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = stream.get_ref().set_nodelay(true);
            match socket {
                SmolSocket::Async => spawn_smol(&ex, stream, mode),
                SmolSocket::Net => spawn_smol(&ex, smol::net::TcpStream::from(stream), mode),
            }
        }
    }))
}

/// Which socket type the ws-smol server hands to `ws_smol::accept`.
#[derive(Clone, Copy)]
enum SmolSocket {
    /// `smol::net::TcpStream`, what smol's listener gives (120 B: it keeps readiness futures
    /// inline beside its `Arc<Async<std::net::TcpStream>>`).
    Net,
    /// `smol::Async<std::net::TcpStream>` (16 B), what the ws-smol docs advise for servers that
    /// hold many connections.
    Async,
}

/// One task per connection: a ws-smol echo or burst over `stream`.
fn spawn_smol<S>(ex: &smol::LocalExecutor<'_>, stream: S, mode: Mode)
where
    S: smol::io::AsyncRead + smol::io::AsyncWrite + Unpin + Send + 'static,
{
    // One spawn per mode, so an echo task is the size of the echo future alone.
    let task = match mode {
        Mode::Echo => ex.spawn(async move {
            let result = async { echo_batched(ws_smol::accept(stream).await?, data_len_ws).await };
            verbose_error(result.await);
        }),
        Mode::Burst => ex.spawn(async move {
            let result = async { burst(ws_smol::accept(stream).await?).await };
            verbose_error(result.await);
        }),
    };
    task.detach();
}

/// ws-async-std on one thread: `async_std::task::block_on` runs the accept loop and, on the
/// same thread, async-std's thread-local executor, into which `spawn_local` puts every
/// connection (and, while idle, it drives the async-io reactor). This is the only way async-std
/// offers to stay on one thread: `task::spawn` goes to its global multi-threaded executor, and
/// even with `ASYNC_STD_THREAD_COUNT=1` that is a second thread, so every connection would be
/// woken across threads while the accept loop sits on the main one. (`spawn_local` needs
/// async-std's `unstable` feature.)
fn async_std_main(addr: SocketAddr, mode: Mode) -> io::Result<()> {
    async_std::task::block_on(async {
        let listener = async_std::net::TcpListener::from(std_listener(addr)?);
        print_listening(listener.local_addr()?)?;
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    eprintln!("accept: {e}");
                    async_std::task::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            // Dropping the JoinHandle detaches the task.
            // One spawn per mode, so an echo task is the size of the echo future alone.
            match mode {
                Mode::Echo => async_std::task::spawn_local(async move {
                    let result = async {
                        echo_batched(ws_async_std::accept(stream).await?, data_len_ws).await
                    };
                    verbose_error(result.await);
                }),
                Mode::Burst => async_std::task::spawn_local(async move {
                    let result = async { burst(ws_async_std::accept(stream).await?).await };
                    verbose_error(result.await);
                }),
            };
        }
    })
}

/// Binds with a backlog of 1024 (`TcpListener::bind` uses 128, which overflows on bursts of
/// connects) — the same for every implementation.
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    notsent_lowat_from_env(&socket)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// `ECHO_NOTSENT_LOWAT=N` sets `TCP_NOTSENT_LOWAT` on the listener (accepted sockets inherit
/// it), for every implementation alike: how much unsent data the kernel queues per socket
/// before it reports the socket unwritable.
fn notsent_lowat_from_env(socket: &impl std::os::fd::AsFd) -> io::Result<()> {
    let Some(value) = std::env::var_os("ECHO_NOTSENT_LOWAT") else {
        return Ok(());
    };
    let lowat: u32 = value
        .to_str()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| io::Error::other("ECHO_NOTSENT_LOWAT: not a number"))?;
    socket2::SockRef::from(socket).set_tcp_notsent_lowat(lowat)
}

async fn serve(which: Impl, addr: SocketAddr, mode: Mode) -> io::Result<()> {
    let listener = listen(addr)?;
    print_listening(listener.local_addr()?)?;
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // EMFILE and friends: keep serving the connections we have.
                eprintln!("accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        // One spawn per implementation and mode, so each task is the size of its own future
        // (one `async` block matching on `which` or `mode` would be the size of the largest of
        // them all, which the idle-memory figures would charge to every echo connection).
        match (which, mode) {
            (Impl::WsTokio, Mode::Echo) => spawn_conn(async move {
                echo_batched(ws_tokio::accept(stream).await?, data_len_ws).await
            }),
            (Impl::WsTokio, Mode::Burst) => {
                spawn_conn(async move { burst(ws_tokio::accept(stream).await?).await })
            }
            (Impl::Tungstenite | Impl::Tungstenite4k, Mode::Echo) => {
                let small = which == Impl::Tungstenite4k;
                spawn_conn(async move {
                    echo_batched(
                        tungstenite_accept(stream, small).await?,
                        data_len_tungstenite,
                    )
                    .await
                })
            }
            (Impl::Tungstenite | Impl::Tungstenite4k, Mode::Burst) => {
                let small = which == Impl::Tungstenite4k;
                spawn_conn(async move { burst(tungstenite_accept(stream, small).await?).await })
            }
            (Impl::FastWebSockets, Mode::Echo) => spawn_conn(fastwebsockets_conn(stream)),
            (Impl::FastWebSockets, Mode::Burst) => spawn_conn(fastwebsockets_burst(stream)),
            (Impl::TokioWebSockets, Mode::Echo) => spawn_conn(async move {
                echo_batched(tokio_websockets_accept(stream).await?, data_len_tws).await
            }),
            (Impl::TokioWebSockets, Mode::Burst) => {
                spawn_conn(async move { burst(tokio_websockets_accept(stream).await?).await })
            }
            (Impl::RawTcp, Mode::Echo) => spawn_conn(raw_tcp_conn(stream)),
            (Impl::RawTcp, Mode::Burst) => spawn_conn(raw_tcp_burst(stream)),
            (Impl::WsSmol | Impl::WsSmolAsync | Impl::WsAsyncStd, _) => {
                unreachable!("not on tokio")
            }
        }
    }
}

fn spawn_conn(conn: impl Future<Output = Result<(), BoxError>> + Send + 'static) {
    // `map`, not `async move { verbose_error(conn.await) }`: an async block keeps both the
    // captured future and the one it awaits, which would double every task's size.
    let task = futures_util::FutureExt::map(conn, verbose_error);
    tokio::spawn(task);
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Payload bytes after which a batch is echoed without waiting for more messages: batching
/// saves a write per small message, while large ones gain nothing from waiting and would only
/// pile up (cold in the caches by the time they are written).
const BATCH_BYTES: usize = 64 * 1024;

/// Echoes every data message of a Stream + Sink WebSocket, one flush per batch: after a
/// message arrives, every message that is already readable is taken too (up to `BATCH_BYTES`
/// of payload), then the batch is fed and flushed. (Reading the whole batch before feeding
/// matters: tokio-websockets' `poll_next` writes out whatever is queued, so read/feed
/// alternation would write once per message.) The load generator keeps at most D messages in
/// flight per connection, so a batch is at most D messages; tokio's cooperative budget also
/// ends a batch. `data_len` is a data message's payload length (`None` for other messages).
async fn echo_batched<W, M, E>(
    mut ws: W,
    data_len: impl Fn(&M) -> Option<usize>,
) -> Result<(), BoxError>
where
    W: Stream<Item = Result<M, E>> + Sink<M, Error = E> + Unpin,
    E: Into<BoxError>,
{
    // The first message of a batch waits outside the vector, which is allocated only when a
    // second one is ready: a connection that echoes one message at a time (the idle-memory
    // workload) keeps no vector.
    let mut first = None;
    let mut batch = Vec::new();
    loop {
        let mut bytes = 0;
        let mut end = match ws.next().await {
            Some(Ok(m)) => {
                if let Some(len) = data_len(&m) {
                    bytes += len;
                    first = Some(m);
                }
                None
            }
            Some(Err(e)) => Some(Err(e.into())),
            None => Some(Ok(())),
        };
        while end.is_none() && bytes < BATCH_BYTES {
            match futures_util::poll!(ws.next()) {
                Poll::Ready(Some(Ok(m))) => {
                    if let Some(len) = data_len(&m) {
                        bytes += len;
                        if first.is_none() {
                            first = Some(m);
                        } else {
                            batch.push(m);
                        }
                    }
                }
                Poll::Ready(Some(Err(e))) => end = Some(Err(e.into())),
                Poll::Ready(None) => end = Some(Ok(())),
                Poll::Pending => break,
            }
        }
        if first.is_none() {
            if let Some(end) = end {
                return end;
            }
        }
        let mut sent = match first.take() {
            Some(m) => ws.feed(m).await,
            None => Ok(()),
        };
        for m in batch.drain(..) {
            if sent.is_ok() {
                sent = ws.feed(m).await;
            }
        }
        let flushed = match sent {
            Ok(()) => ws.flush().await.map_err(Into::into),
            Err(e) => Err(e.into()),
        };
        if let Some(end) = end {
            return end;
        }
        flushed?;
    }
}

/// ws-tokio, ws-smol and ws-async-std share ws-driver's `Message`.
fn data_len_ws(m: &ws_tokio::Message) -> Option<usize> {
    match m {
        ws_tokio::Message::Text(text) => Some(text.len()),
        ws_tokio::Message::Binary(data) => Some(data.len()),
        _ => None,
    }
}

async fn tungstenite_accept(
    stream: TcpStream,
    small: bool,
) -> Result<tokio_tungstenite::WebSocketStream<TcpStream>, BoxError> {
    use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
    let config = if small {
        // tungstenite 0.30 exposes read_buffer_size (default 128 KiB, eagerly allocated),
        // write_buffer_size (default 128 KiB: bytes buffered before a write; flush always
        // writes everything), max_write_buffer_size, max_message_size, max_frame_size.
        Some(
            WebSocketConfig::default()
                .read_buffer_size(4096)
                .write_buffer_size(4096),
        )
    } else {
        None
    };
    Ok(tokio_tungstenite::accept_async_with_config(stream, config).await?)
}

fn data_len_tungstenite(m: &tokio_tungstenite::tungstenite::Message) -> Option<usize> {
    use tokio_tungstenite::tungstenite::Message;
    match m {
        Message::Text(text) => Some(text.len()),
        Message::Binary(data) => Some(data.len()),
        _ => None,
    }
}

async fn tokio_websockets_accept(
    stream: TcpStream,
) -> Result<tokio_websockets::WebSocketStream<TcpStream>, BoxError> {
    let (_request, ws) = tokio_websockets::ServerBuilder::new()
        .accept(stream)
        .await?;
    Ok(ws)
}

fn data_len_tws(m: &tokio_websockets::Message) -> Option<usize> {
    (m.is_text() || m.is_binary()).then(|| m.as_payload().len())
}

async fn fastwebsockets_conn(mut stream: TcpStream) -> Result<(), BoxError> {
    use fastwebsockets::{FragmentCollector, OpCode, Role, WebSocket};
    handshake_by_hand(&mut stream).await?;
    let mut ws = FragmentCollector::new(WebSocket::after_handshake(stream, Role::Server));
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            // One write per message: FragmentCollector has no separate flush.
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
            // auto_close already answered it.
            OpCode::Close => return Ok(()),
            _ => {}
        }
    }
}

/// Reads into a buffer and writes back what it read. The buffer starts at 16 KiB, untouched
/// until read into (so an idle connection costs little), and doubles up to 1 MiB whenever a
/// read fills it, so large messages move in large reads like the WebSocket servers do.
async fn raw_tcp_conn(mut stream: TcpStream) -> Result<(), BoxError> {
    const MAX: usize = 1 << 20;
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    loop {
        buf.clear();
        let cap = buf.capacity();
        let n = stream.read_buf(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n]).await?;
        if n == cap && cap < MAX {
            buf.clear();
            buf.reserve_exact(cap * 2);
        }
    }
}

/// A burst command (see the module docs): the first text message of a connection in burst mode.
#[derive(Clone, Copy, Debug)]
enum Command {
    /// `upload N S`: count what the client sends until `done`, answer `COUNT BYTES`.
    Upload { n: u64, size: usize },
    /// `burst N S batched|permsg`: send N binary messages of S bytes, then `done`.
    Download { n: u64, size: usize, batched: bool },
}

impl Command {
    fn parse(text: &str) -> Result<Command, BoxError> {
        let bad = || -> BoxError { format!("bad burst command {text:?}").into() };
        let mut words = text.split_ascii_whitespace();
        let verb = words.next().ok_or_else(bad)?;
        let n: u64 = words.next().and_then(|w| w.parse().ok()).ok_or_else(bad)?;
        let size: usize = words.next().and_then(|w| w.parse().ok()).ok_or_else(bad)?;
        let command = match (verb, words.next()) {
            ("upload", None) => Command::Upload { n, size },
            ("burst", Some("batched")) => Command::Download {
                n,
                size,
                batched: true,
            },
            ("burst", Some("permsg")) => Command::Download {
                n,
                size,
                batched: false,
            },
            _ => return Err(bad()),
        };
        if words.next().is_some() {
            return Err(bad());
        }
        Ok(command)
    }
}

/// What [`burst`] needs of a Stream + Sink library's message type.
trait BurstMessage: Sized {
    /// The text of a Text message.
    fn text_of(&self) -> Option<&str>;
    /// The payload length of a Binary message.
    fn binary_len(&self) -> Option<usize>;
    fn new_text(text: String) -> Self;
    fn new_binary(data: Bytes) -> Self;
}

/// ws-driver's `Message`: ws-tokio, ws-smol and ws-async-std all re-export this one type.
impl BurstMessage for ws_tokio::Message {
    fn text_of(&self) -> Option<&str> {
        self.as_text()
    }
    fn binary_len(&self) -> Option<usize> {
        match self {
            ws_tokio::Message::Binary(data) => Some(data.len()),
            _ => None,
        }
    }
    fn new_text(text: String) -> Self {
        ws_tokio::Message::Text(text.into())
    }
    fn new_binary(data: Bytes) -> Self {
        ws_tokio::Message::Binary(data)
    }
}

impl BurstMessage for tokio_tungstenite::tungstenite::Message {
    fn text_of(&self) -> Option<&str> {
        match self {
            tokio_tungstenite::tungstenite::Message::Text(text) => Some(text.as_str()),
            _ => None,
        }
    }
    fn binary_len(&self) -> Option<usize> {
        match self {
            tokio_tungstenite::tungstenite::Message::Binary(data) => Some(data.len()),
            _ => None,
        }
    }
    fn new_text(text: String) -> Self {
        tokio_tungstenite::tungstenite::Message::text(text)
    }
    fn new_binary(data: Bytes) -> Self {
        tokio_tungstenite::tungstenite::Message::binary(data)
    }
}

impl BurstMessage for tokio_websockets::Message {
    fn text_of(&self) -> Option<&str> {
        self.as_text()
    }
    fn binary_len(&self) -> Option<usize> {
        self.is_binary().then(|| self.as_payload().len())
    }
    fn new_text(text: String) -> Self {
        tokio_websockets::Message::text(text)
    }
    fn new_binary(data: Bytes) -> Self {
        tokio_websockets::Message::binary(data)
    }
}

/// One burst on a Stream + Sink WebSocket: reads the command, then uploads (counts every
/// message until `done`, answers `COUNT BYTES` with one `send`) or downloads (N binary messages
/// sharing one `Bytes` payload, so no library copies it before framing; `batched` feeds them all
/// and flushes once after `done`, `permsg` sends each), then reads until the client closes.
async fn burst<W, M, E>(mut ws: W) -> Result<(), BoxError>
where
    W: Stream<Item = Result<M, E>> + Sink<M, Error = E> + Unpin,
    M: BurstMessage,
    E: Into<BoxError>,
{
    let command = loop {
        let Some(m) = ws.next().await else {
            return Ok(());
        };
        let m = m.map_err(Into::into)?;
        if let Some(text) = m.text_of() {
            break Command::parse(text)?;
        }
        if m.binary_len().is_some() {
            return Err("burst: a binary message before the command".into());
        }
    };
    match command {
        Command::Upload { .. } => {
            let (mut count, mut bytes) = (0u64, 0u64);
            loop {
                let m = match ws.next().await {
                    Some(m) => m.map_err(Into::into)?,
                    None => return Err(format!("upload: eof after {count} messages").into()),
                };
                if let Some(len) = m.binary_len() {
                    count += 1;
                    bytes += len as u64;
                } else if let Some(text) = m.text_of() {
                    if text != "done" {
                        return Err(format!("upload: unexpected text {text:?}").into());
                    }
                    break;
                }
            }
            ws.send(M::new_text(format!("{count} {bytes}")))
                .await
                .map_err(Into::into)?;
        }
        Command::Download { n, size, batched } => {
            let payload = Bytes::from(vec![b'b'; size]);
            if batched {
                for _ in 0..n {
                    ws.feed(M::new_binary(payload.clone()))
                        .await
                        .map_err(Into::into)?;
                }
                ws.feed(M::new_text("done".into()))
                    .await
                    .map_err(Into::into)?;
                ws.flush().await.map_err(Into::into)?;
            } else {
                for _ in 0..n {
                    ws.send(M::new_binary(payload.clone()))
                        .await
                        .map_err(Into::into)?;
                }
                ws.send(M::new_text("done".into()))
                    .await
                    .map_err(Into::into)?;
            }
        }
    }
    while let Some(m) = ws.next().await {
        m.map_err(Into::into)?;
    }
    Ok(())
}

/// A burst on fastwebsockets. The command is read with `WebSocket::read_frame` (the load never
/// fragments it).
///
/// - upload: a `FragmentCollector`, as in the echo, counting every Binary message until `done`.
/// - download `permsg`: `write_frame` per message on the plain `WebSocket<TcpStream>`: one
///   write per frame, which is what fastwebsockets always does.
/// - download `batched`: fastwebsockets 0.10 has no batching of its own (no `set_auto_flush`,
///   no write buffer: every `write_frame` goes straight to the stream, and `flush` only flushes
///   the stream, "if the underlying stream is buffered"). So the batched way is to give it a
///   buffered stream: the TcpStream (taken back with `into_inner`; nothing is left in the read
///   buffer, the client sends nothing more until `done`) in a tokio `BufWriter` with its
///   default 8 KiB, `write_frame` each message, `flush` once.
async fn fastwebsockets_burst(mut stream: TcpStream) -> Result<(), BoxError> {
    use fastwebsockets::{FragmentCollector, Frame, OpCode, Payload, Role, WebSocket};
    handshake_by_hand(&mut stream).await?;
    let mut ws = WebSocket::after_handshake(stream, Role::Server);
    let command = loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Text if frame.fin => {
                break Command::parse(std::str::from_utf8(&frame.payload)?)?
            }
            OpCode::Close => return Ok(()),
            OpCode::Ping | OpCode::Pong => {}
            _ => return Err("burst: expected the command".into()),
        }
    };
    match command {
        Command::Upload { .. } => {
            let mut ws = FragmentCollector::new(ws);
            let (mut count, mut bytes) = (0u64, 0u64);
            loop {
                let frame = ws.read_frame().await?;
                match frame.opcode {
                    OpCode::Binary => {
                        count += 1;
                        bytes += frame.payload.len() as u64;
                    }
                    OpCode::Text if &*frame.payload == b"done" => break,
                    OpCode::Text => return Err("upload: unexpected text".into()),
                    OpCode::Close => return Err("upload: closed early".into()),
                    _ => {}
                }
            }
            let reply = format!("{count} {bytes}");
            ws.write_frame(Frame::text(Payload::Borrowed(reply.as_bytes())))
                .await?;
            while ws.read_frame().await?.opcode != OpCode::Close {}
        }
        Command::Download { n, size, batched } => {
            let payload = vec![b'b'; size];
            if batched {
                let stream = tokio::io::BufWriter::new(ws.into_inner());
                let mut ws = WebSocket::after_handshake(stream, Role::Server);
                for _ in 0..n {
                    ws.write_frame(Frame::binary(Payload::Borrowed(&payload)))
                        .await?;
                }
                ws.write_frame(Frame::text(Payload::Borrowed(b"done")))
                    .await?;
                ws.flush().await?;
                while ws.read_frame().await?.opcode != OpCode::Close {}
                // The automatic Close reply went into the BufWriter.
                ws.flush().await?;
            } else {
                for _ in 0..n {
                    ws.write_frame(Frame::binary(Payload::Borrowed(&payload)))
                        .await?;
                }
                ws.write_frame(Frame::text(Payload::Borrowed(b"done")))
                    .await?;
                while ws.read_frame().await?.opcode != OpCode::Close {}
            }
        }
    }
    Ok(())
}

/// The length of a masked client frame with an S-byte payload.
fn client_frame_len(size: usize) -> u64 {
    let ext = match size {
        0..=125 => 0,
        126..=0xffff => 2,
        _ => 8,
    };
    (2 + ext + 4 + size) as u64
}

/// An unmasked server frame (FIN set).
fn server_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(payload.len() + 10);
    f.push(0x80 | opcode);
    match payload.len() {
        n @ 0..=125 => f.push(n as u8),
        n @ 126..=0xffff => {
            f.push(126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(payload);
    f
}

/// raw-tcp's burst: no WebSocket, the ceiling. The command is the first line
/// (`upload N S` or `burst N S batched|permsg`, as the WebSocket servers get it in a message).
///
/// - upload: reads (256 KiB at a time) exactly the N masked client frames of S bytes the load
///   sends after the line, without looking at them, then answers with a server text frame
///   `COUNT BYTES` computed from the byte count.
/// - download: writes N server frames of S bytes and a text frame `done`, the very bytes a
///   WebSocket server sends, pre-built: `batched` writes them in 256 KiB chunks of whole frames
///   (no per-message work at all), `permsg` makes one write per frame.
async fn raw_tcp_burst(mut stream: TcpStream) -> Result<(), BoxError> {
    const CHUNK: usize = 256 * 1024;
    let mut buf = vec![0u8; CHUNK];
    let mut have = 0;
    let line_end = loop {
        let n = stream.read(&mut buf[have..]).await?;
        if n == 0 {
            return Ok(());
        }
        have += n;
        if let Some(i) = buf[..have].iter().position(|&b| b == b'\n') {
            break i;
        }
        if have == buf.len() {
            return Err("burst: no command line".into());
        }
    };
    let command = Command::parse(std::str::from_utf8(&buf[..line_end])?)?;
    let after_line = (have - line_end - 1) as u64;
    match command {
        Command::Upload { n, size } => {
            let flen = client_frame_len(size);
            let total = n * flen;
            let mut got = after_line;
            while got < total {
                let r = stream.read(&mut buf).await?;
                if r == 0 {
                    return Err(format!("upload: eof after {got} of {total} bytes").into());
                }
                got += r as u64;
            }
            if got != total {
                return Err("upload: more bytes than announced".into());
            }
            let count = got / flen;
            let reply = format!("{count} {}", count * size as u64);
            stream.write_all(&server_frame(1, reply.as_bytes())).await?;
        }
        Command::Download { n, size, batched } => {
            let frame = server_frame(2, &vec![b'b'; size]);
            let done = server_frame(1, b"done");
            if batched {
                let per = (CHUNK / frame.len()).max(1) as u64;
                let chunk = frame.repeat(per as usize);
                let mut left = n;
                while left >= per {
                    stream.write_all(&chunk).await?;
                    left -= per;
                }
                let mut last = chunk[..left as usize * frame.len()].to_vec();
                last.extend_from_slice(&done);
                stream.write_all(&last).await?;
            } else {
                for _ in 0..n {
                    stream.write_all(&frame).await?;
                }
                stream.write_all(&done).await?;
            }
        }
    }
    loop {
        if stream.read(&mut buf).await? == 0 {
            return Ok(());
        }
    }
}

/// A minimal server upgrade for fastwebsockets (so no hyper): reads the request head, checks
/// it is a WebSocket upgrade, answers 101 with `Sec-WebSocket-Accept`. A client that sends
/// frames before the 101 is refused (the load generator never does).
async fn handshake_by_hand(stream: &mut TcpStream) -> Result<(), BoxError> {
    use base64::Engine;
    use sha1::{Digest, Sha1};
    let mut buf = Vec::with_capacity(1024);
    let head_len = loop {
        if buf.len() > 16 * 1024 {
            return Err("request head too large".into());
        }
        let n = stream.read_buf(&mut buf).await?;
        if n == 0 {
            return Err("eof during handshake".into());
        }
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    if head_len != buf.len() {
        return Err("data after the request head".into());
    }
    let head = std::str::from_utf8(&buf[..head_len])?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or("");
    if !request_line.starts_with("GET ") {
        stream
            .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
            .await?;
        return Err("not a GET".into());
    }
    let mut key = None;
    let mut upgrade = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("sec-websocket-key") {
            key = Some(value.to_owned());
        } else if name.eq_ignore_ascii_case("upgrade") {
            upgrade = value.eq_ignore_ascii_case("websocket");
        }
    }
    let Some(key) = key.filter(|_| upgrade) else {
        stream
            .write_all(b"HTTP/1.1 426 Upgrade Required\r\ncontent-length: 0\r\n\r\n")
            .await?;
        return Err("not a WebSocket upgrade".into());
    };
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    let accept = base64::engine::general_purpose::STANDARD.encode(sha.finalize());
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    stream.write_all(response.as_bytes()).await?;
    Ok(())
}
