//! `echo_server IMPL ADDR`: one WebSocket echo server per implementation, all alike, for
//! `scripts/bench` to compare server CPU per message.
//!
//! IMPL is one of `ws-tokio`, `tungstenite` (tokio-tungstenite, default config),
//! `tungstenite-4k` (tokio-tungstenite with 4 KiB read and write buffers), `fastwebsockets`
//! (FragmentCollector, auto close/pong, hand-written HTTP upgrade), `tokio-websockets` (default
//! config) and `raw-tcp` (no WebSocket at all: a TCP echo, the physical ceiling).
//!
//! Every server runs on a tokio current_thread runtime, accepts forever (backlog 1024, as
//! `ws_tokio::listen` does, with TCP_NODELAY), spawns one task per connection, echoes every
//! Text/Binary message, leaves Ping/Close to the library (all four answer Ping and Close
//! themselves), and prints `listening ADDR` once bound (ADDR with the real port when given 0).
//!
//! Batching: the three Stream + Sink libraries (ws-tokio, tokio-tungstenite, tokio-websockets)
//! take every message that is already readable, `feed` them all and `flush` once per batch (see
//! [`echo_batched`]); whether that becomes one write per batch is up to the library. fastwebsockets has no separate flush on `FragmentCollector` (its
//! `write_frame` writes straight to the socket), so it sends once per message, which is how
//! it is meant to be used. raw-tcp writes back each read as it came.

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use std::io;
use std::net::SocketAddr;
use std::task::Poll;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

#[derive(Clone, Copy, Debug)]
enum Impl {
    WsTokio,
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
            "tungstenite" => Impl::Tungstenite,
            "tungstenite-4k" => Impl::Tungstenite4k,
            "fastwebsockets" => Impl::FastWebSockets,
            "tokio-websockets" => Impl::TokioWebSockets,
            "raw-tcp" => Impl::RawTcp,
            _ => return None,
        })
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: echo_server IMPL ADDR\n  IMPL: ws-tokio | tungstenite | tungstenite-4k | \
         fastwebsockets | tokio-websockets | raw-tcp"
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
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(serve(which, addr))
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
    socket.bind(addr)?;
    socket.listen(1024)
}

async fn serve(which: Impl, addr: SocketAddr) -> io::Result<()> {
    let listener = listen(addr)?;
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening {}", listener.local_addr()?)?;
        out.flush()?;
    }
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
        tokio::spawn(async move {
            let result = match which {
                Impl::WsTokio => ws_tokio_conn(stream).await,
                Impl::Tungstenite => tungstenite_conn(stream, false).await,
                Impl::Tungstenite4k => tungstenite_conn(stream, true).await,
                Impl::FastWebSockets => fastwebsockets_conn(stream).await,
                Impl::TokioWebSockets => tokio_websockets_conn(stream).await,
                Impl::RawTcp => raw_tcp_conn(stream).await,
            };
            if let Err(e) = result {
                if std::env::var_os("ECHO_SERVER_VERBOSE").is_some() {
                    eprintln!("connection: {e}");
                }
            }
        });
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Echoes every data message of a Stream + Sink WebSocket, one flush per batch: after a
/// message arrives, every message that is already readable is taken too, then the batch is
/// fed and flushed. (Reading the whole batch before feeding matters: tokio-websockets'
/// `poll_next` writes out whatever is queued, so read/feed alternation would write once per
/// message.) The load generator keeps at most D messages in flight per connection, so a batch
/// is at most D messages; tokio's cooperative budget also ends a batch.
async fn echo_batched<W, M, E>(mut ws: W, is_data: impl Fn(&M) -> bool) -> Result<(), BoxError>
where
    W: Stream<Item = Result<M, E>> + Sink<M, Error = E> + Unpin,
    E: Into<BoxError>,
{
    let mut batch = Vec::new();
    loop {
        let mut end = match ws.next().await {
            Some(Ok(m)) => {
                if is_data(&m) {
                    batch.push(m);
                }
                None
            }
            Some(Err(e)) => Some(Err(e.into())),
            None => Some(Ok(())),
        };
        while end.is_none() {
            match futures_util::poll!(ws.next()) {
                Poll::Ready(Some(Ok(m))) => {
                    if is_data(&m) {
                        batch.push(m);
                    }
                }
                Poll::Ready(Some(Err(e))) => end = Some(Err(e.into())),
                Poll::Ready(None) => end = Some(Ok(())),
                Poll::Pending => break,
            }
        }
        if batch.is_empty() {
            if let Some(end) = end {
                return end;
            }
        }
        let mut sent = Ok(());
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

async fn ws_tokio_conn(stream: TcpStream) -> Result<(), BoxError> {
    let ws = ws_tokio::accept(stream).await?;
    echo_batched(ws, |m: &ws_tokio::Message| {
        matches!(m, ws_tokio::Message::Text(_) | ws_tokio::Message::Binary(_))
    })
    .await
}

async fn tungstenite_conn(stream: TcpStream, small: bool) -> Result<(), BoxError> {
    use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
    use tokio_tungstenite::tungstenite::Message;
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
    let ws = tokio_tungstenite::accept_async_with_config(stream, config).await?;
    echo_batched(ws, |m: &Message| {
        matches!(m, Message::Text(_) | Message::Binary(_))
    })
    .await
}

async fn tokio_websockets_conn(stream: TcpStream) -> Result<(), BoxError> {
    let (_request, ws) = tokio_websockets::ServerBuilder::new()
        .accept(stream)
        .await?;
    echo_batched(ws, |m: &tokio_websockets::Message| {
        m.is_text() || m.is_binary()
    })
    .await
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
