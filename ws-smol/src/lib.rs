//! WebSocket (RFC 6455) for smol, built on the sans-IO core [`ws_proto`].
//!
//! Works with any `futures-io` stream on the `async-io` reactor: smol's sockets, async-std's
//! (`ws-async-std` re-exports this crate), futures-rustls. The API follows tokio-tungstenite:
//! [`connect`] / [`connect_with`], [`accept`] / [`accept_with`], [`from_raw_socket`]; a
//! [`WebSocket`] is a `futures` `Stream` of [`Message`]s and a `Sink` for them, and splits into
//! halves that never deadlock.
//!
//! ```no_run
//! use futures_util::{SinkExt, StreamExt};
//! # fn main() -> Result<(), ws_smol::Error> { smol::block_on(async {
//! let (mut ws, _response) = ws_smol::connect("ws://127.0.0.1:9001/").await?;
//! ws.send(ws_smol::Message::text("hello")).await?;
//! while let Some(message) = ws.next().await {
//!     println!("{:?}", message?);
//! }
//! # Ok(()) }) }
//! ```
//!
//! Timers run on `async-io`'s clock (real time: smol has no virtual clock).
//!
//! # Servers holding many connections
//!
//! A WebSocket keeps its stream for its whole life, inline. `smol::net::TcpStream` is 120
//! bytes: beside its `Arc<Async<std::net::TcpStream>>` it carries two readiness futures that
//! only its `poll_readable` / `poll_writable` use. `smol::Async<std::net::TcpStream>` is the
//! same socket on the same reactor in 16 bytes, and [`accept`] takes it as it is. In the
//! repository's benchmark (5,000 idle connections after one echo each) that is 1,862 bytes of
//! RSS per connection instead of 2,336.
//!
//! ```no_run
//! # fn main() -> std::io::Result<()> { smol::block_on(async {
//! use std::sync::Arc;
//! let listener: Arc<smol::Async<std::net::TcpListener>> =
//!     ws_smol::listen("127.0.0.1:9001".parse().unwrap())?.into();
//! loop {
//!     let (stream, _peer) = listener.accept().await?; // smol::Async<std::net::TcpStream>
//!     let _ = stream.get_ref().set_nodelay(true);
//!     smol::spawn(async move {
//!         if let Ok(ws) = ws_smol::accept(stream).await {
//!             // ... use `ws` ...
//! #           drop(ws);
//!         }
//!     })
//!     .detach();
//! }
//! # }) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod stream;

use async_net::{TcpListener, TcpStream};
use futures_io::{AsyncRead, AsyncWrite};
use std::future::Future;
use std::io;
use std::net::SocketAddr;

pub use stream::MaybeTlsStream;
pub use ws_driver::{
    fragment, Accept, AsyncIo, CloseCode, CloseFrame, Closed, Compression, Config, Decision,
    DeflateConfig, Error, FuturesIo, Initiator, Message, MessageKind, Monitor, Outcome,
    PreparedMessage, Role, ShutdownReport, Snapshot, State, Utf8Bytes,
};
pub use ws_proto;

/// A WebSocket over the `futures-io` stream `S`.
pub type WebSocket<S> = ws_driver::WebSocket<FuturesIo<S>, AsyncIo>;
/// The read half of a split [`WebSocket`].
pub type ReadHalf<S> = ws_driver::ReadHalf<FuturesIo<S>, AsyncIo>;
/// The write half of a split [`WebSocket`].
pub type WriteHalf<S> = ws_driver::WriteHalf<FuturesIo<S>, AsyncIo>;

/// Connects to a `ws://` or `wss://` URL with the default configuration. Returns the open
/// WebSocket and the server's 101 response.
pub async fn connect(
    url: &str,
) -> Result<(WebSocket<MaybeTlsStream<TcpStream>>, http::Response<()>), Error> {
    let request = ws_proto::ClientHandshake::request(url)?;
    connect_with(request, Config::default()).await
}

/// Connects with a prepared request (extra headers such as `Origin`, cookies, or
/// `Sec-WebSocket-Protocol`) and a configuration. `wss://` trusts webpki-roots; see
/// [`connect_with_tls`] for other trust anchors or client certificates.
pub async fn connect_with(
    request: http::Request<()>,
    config: Config,
) -> Result<(WebSocket<MaybeTlsStream<TcpStream>>, http::Response<()>), Error> {
    connect_inner(request, config, None).await
}

/// [`connect_with`] with the rustls client configuration `wss://` should use.
#[cfg(feature = "rustls")]
pub async fn connect_with_tls(
    request: http::Request<()>,
    config: Config,
    tls: std::sync::Arc<rustls::ClientConfig>,
) -> Result<(WebSocket<MaybeTlsStream<TcpStream>>, http::Response<()>), Error> {
    connect_inner(request, config, Some(tls)).await
}

#[cfg(feature = "rustls")]
type TlsConfig = std::sync::Arc<rustls::ClientConfig>;
#[cfg(not(feature = "rustls"))]
type TlsConfig = std::convert::Infallible;

async fn connect_inner(
    request: http::Request<()>,
    config: Config,
    tls: Option<TlsConfig>,
) -> Result<(WebSocket<MaybeTlsStream<TcpStream>>, http::Response<()>), Error> {
    let (host, port, secure) = ws_driver::connect_target(request.uri())?;
    let tcp = TcpStream::connect((host.as_str(), port)).await?;
    let _ = tcp.set_nodelay(true);
    let stream = match secure {
        #[cfg(feature = "rustls")]
        true => stream::wrap_tls(tcp, &host, tls).await?,
        #[cfg(not(feature = "rustls"))]
        true => {
            let _ = tls;
            return Err(Error::TlsUnsupported);
        }
        false => MaybeTlsStream::Plain(tcp),
    };
    client_async(request, stream, config).await
}

/// Runs the client handshake over a stream you connected yourself.
pub fn client_async<S>(
    request: http::Request<()>,
    stream: S,
    config: Config,
) -> impl Future<Output = Result<(WebSocket<S>, http::Response<()>), Error>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    ws_driver::client_handshake(FuturesIo(stream), request, config)
}

/// Accepts a WebSocket on an incoming stream with the default configuration; plain HTTP
/// requests are answered 426 Upgrade Required. `smol::Async<std::net::TcpStream>` costs less
/// memory per connection than `smol::net::TcpStream` (see the crate docs).
pub fn accept<S>(stream: S) -> impl Future<Output = Result<WebSocket<S>, Error>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    accept_with(stream, Config::default(), |_| Decision::accept())
}

/// Accepts with a configuration and a callback that sees every request and decides:
/// [`Decision::Accept`] upgrades (optionally with a subprotocol and extra headers);
/// [`Decision::Respond`] answers with that response instead and returns [`Error::Refused`].
pub fn accept_with<S>(
    stream: S,
    config: Config,
    callback: impl FnOnce(&http::Request<()>) -> Decision,
) -> impl Future<Output = Result<WebSocket<S>, Error>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    ws_driver::server_handshake(FuturesIo(stream), config, callback)
}

/// A WebSocket over a stream that was upgraded elsewhere: starts Open.
pub fn from_raw_socket<S>(stream: S, role: Role, config: Config) -> WebSocket<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    WebSocket::from_raw_socket(FuturesIo(stream), role, config)
}

/// Binds a listener with a backlog of 1024 (the standard library's `bind` uses 128, which
/// bursts of a few hundred connects overflow).
pub fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    let listener: std::net::TcpListener = socket.into();
    Ok(TcpListener::from(async_io::Async::new(listener)?))
}

/// Graceful shutdown of every connection counted by `monitor` (stop accepting first): Close 1001
/// to each, wait up to `grace` for their close handshakes, then terminate the rest.
pub async fn shutdown(monitor: &Monitor, grace: std::time::Duration) -> ShutdownReport {
    ws_driver::graceful_shutdown::<AsyncIo>(monitor, grace).await
}
