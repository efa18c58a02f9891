//! Hostile peers over real sockets: a ping flood from a peer that never reads, a slowloris
//! handshake, and an oversized frame. The core-level catalogue is in ws-proto/tests/hostile.rs.

use futures_util::StreamExt;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use ws_tokio::{Config, Decision, Error, Outcome};

const UPGRADE: &[u8] =
    b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

async fn upgraded_raw_client(addr: std::net::SocketAddr) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(UPGRADE).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(tcp.read_u8().await.unwrap());
    }
    tcp
}

/// A server WebSocket accepted with `config`, and the raw client socket at its other end.
async fn accepted_with_raw_client(config: Config) -> (ws_tokio::WebSocket<TcpStream>, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        ws_tokio::accept_with(stream, config, |_| Decision::accept())
            .await
            .unwrap()
    });
    let client = upgraded_raw_client(addr).await;
    (server.await.unwrap(), client)
}

#[tokio::test]
async fn a_ping_flood_from_a_peer_that_never_reads_keeps_our_write_buffer_bounded() {
    let mut config = Config::default();
    config.write_high_water_mark = 64 * 1024;
    config.protocol.keepalive_interval = None;
    let read_size = config.read_buffer_size;
    let (ws, mut client) = accepted_with_raw_client(config).await;
    let (mut read, write) = ws.split();
    tokio::spawn(async move { while read.next().await.is_some() {} });
    // Masked 125-byte pings, written as fast as the server lets us; we never read its pongs,
    // so once the kernel's buffers are full the server cannot write them.
    let mut ping = vec![0x89u8, 0x80 | 125, 1, 2, 3, 4];
    ping.extend_from_slice(&[0u8; 125]);
    let flood = ping.repeat(10_000);
    let writer = tokio::spawn(async move {
        loop {
            if client.write_all(&flood).await.is_err() {
                break;
            }
        }
        client
    });
    let mut max_buffered = 0;
    for _ in 0..300 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        max_buffered = max_buffered.max(write.buffered_amount());
    }
    // Reading pauses at the high-water mark: at most one read's worth of pongs beyond it.
    assert!(
        max_buffered >= 64 * 1024,
        "the flood filled the kernel buffers: {max_buffered}"
    );
    assert!(
        max_buffered <= 64 * 1024 + read_size + 1024,
        "write buffer grew to {max_buffered}"
    );
    assert!(
        !writer.is_finished(),
        "the flooder is blocked by TCP backpressure"
    );
    writer.abort();
}

#[tokio::test(start_paused = true)]
async fn a_slowloris_handshake_is_cut_off_with_408() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        ws_tokio::accept(stream).await
    });
    let mut client = TcpStream::connect(addr).await.unwrap();
    let start = tokio::time::Instant::now();
    for byte in UPGRADE.iter().take(30) {
        if client.write_all(&[*byte]).await.is_err() {
            break; // the server gave up on us
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let result = server.await.unwrap();
    assert!(matches!(
        result,
        Err(Error::Handshake(
            ws_tokio::ws_proto::HandshakeError::Timeout
        ))
    ));
    let mut response = String::new();
    let _ = client.read_to_string(&mut response).await;
    assert!(
        response.starts_with("HTTP/1.1 408 Request Timeout"),
        "{response}"
    );
    assert!(start.elapsed() < Duration::from_secs(31));
}

#[tokio::test]
async fn an_oversized_frame_is_refused_from_its_header_with_1009() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = Config::default();
    config.protocol.max_frame_size = 1 << 20;
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = ws_tokio::accept_with(stream, config, |_| Decision::accept())
            .await
            .unwrap();
        let item = ws.next().await;
        (item.map(|r| r.map_err(|e| e.to_string())), ws.closed())
    });
    let mut client = upgraded_raw_client(addr).await;
    // A header announcing 2 MiB, and no payload at all.
    client
        .write_all(&[0x82, 0xff, 0, 0, 0, 0, 0, 0x20, 0, 0, 1, 2, 3, 4])
        .await
        .unwrap();
    let (item, closed) = server.await.unwrap();
    assert!(matches!(item, Some(Err(_))));
    let closed = closed.unwrap();
    assert!(matches!(closed.outcome, Outcome::ProtocolError(_)));
    let mut frame = [0u8; 4];
    client.read_exact(&mut frame).await.unwrap();
    assert_eq!(
        &frame,
        &[0x88, 0x11, 0x03, 0xf1],
        "Close 1009 (\"frame too large\")"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_never_stops_sending_is_cut_off_at_the_close_timeout() {
    let mut config = Config::default();
    config.protocol.keepalive_interval = None;
    config.protocol.close_timeout = Duration::from_millis(300);
    let (ws, mut client) = accepted_with_raw_client(config).await;
    // Small masked binary frames, as fast as the server takes them, and never a Close: every
    // read the server makes while waiting for the peer's Close finds more.
    let mut frame = vec![0x82u8, 0x80 | 16, 1, 2, 3, 4];
    frame.extend_from_slice(&[0u8; 16]);
    let flood = frame.repeat(4096);
    let writer = tokio::spawn(async move { while client.write_all(&flood).await.is_ok() {} });
    let start = std::time::Instant::now();
    let closed = tokio::time::timeout(
        Duration::from_secs(20),
        ws.close(ws_tokio::CloseCode::NORMAL, ""),
    )
    .await
    .expect("the close timeout fired")
    .unwrap();
    assert_eq!(closed.outcome, Outcome::CloseTimeout);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    writer.abort();
}

#[tokio::test]
async fn a_close_handshake_with_a_peer_that_stops_reading_releases_the_socket_at_the_close_timeout()
{
    use futures_util::SinkExt;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = Config::default();
    // No keepalive: the linger bound is the only deadline the connection has left.
    config.protocol.keepalive_interval = None;
    config.protocol.close_timeout = Duration::from_millis(500);
    // Reading goes on while our output waits (above the mark it would pause, and the peer's
    // Close would never be read).
    config.write_high_water_mark = 1 << 30;
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = ws_tokio::accept_with(stream, config, |_| Decision::accept())
            .await
            .unwrap();
        // More than the kernel's buffers hold: most of it is still ours to write when the
        // peer's Close arrives, and the peer never reads it.
        ws.feed(ws_tokio::Message::Binary(vec![0u8; 64 << 20].into()))
            .await
            .unwrap();
        let mut close_seen = None;
        while let Some(item) = ws.next().await {
            if let Ok(ws_tokio::Message::Close(_)) = item {
                close_seen = Some(std::time::Instant::now());
            }
        }
        (close_seen, std::time::Instant::now(), ws.closed())
    });
    let mut client = upgraded_raw_client(addr).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A Close with code 1000 (zero mask), and then silence: nothing read, nothing closed.
    client
        .write_all(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8])
        .await
        .unwrap();
    let (close_seen, ended, closed) = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the socket was released")
        .unwrap();
    let lingered = ended - close_seen.expect("the peer's Close was delivered");
    assert!(lingered < Duration::from_secs(3), "{lingered:?}");
    assert!(closed.is_some());
    drop(client);
}
