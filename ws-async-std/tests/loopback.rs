//! ws-async-std over real loopback sockets, on async-std's executor and its own TcpStream.

use async_std::net::{TcpListener, TcpStream};
use async_std::task;
use futures_util::{SinkExt, StreamExt};
use std::time::{Duration, Instant};
use ws_async_std::{CloseCode, Config, Decision, Initiator, Message, Outcome, WebSocket};

async fn echo_server(config: Config) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    task::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let config = config.clone();
            task::spawn(async move {
                let Ok(mut ws) =
                    ws_async_std::accept_with(stream, config, |_| Decision::accept()).await
                else {
                    return;
                };
                while let Some(Ok(message)) = ws.next().await {
                    if matches!(message, Message::Text(_) | Message::Binary(_))
                        && ws.send(message).await.is_err()
                    {
                        break;
                    }
                }
            });
        }
    });
    addr
}

#[async_std::test]
async fn echo_and_clean_close_on_async_std_sockets() {
    let addr = echo_server(Config::default()).await;
    // The client side over async-std's own TcpStream, through `client_async`.
    let tcp = TcpStream::connect(addr).await.unwrap();
    let request =
        ws_async_std::ws_proto::ClientHandshake::request(&format!("ws://{addr}/")).unwrap();
    let (mut ws, _): (WebSocket<TcpStream>, _) =
        ws_async_std::client_async(request, tcp, Config::default())
            .await
            .unwrap();
    ws.send(Message::text("hi")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("hi"));
    let big = vec![7u8; 16 << 20];
    ws.send(Message::binary(big.clone())).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::binary(big));
    let closed = ws.close(CloseCode::NORMAL, "bye").await.unwrap();
    assert!(closed.was_clean);
    assert_eq!(closed.initiator, Initiator::Local);
}

#[async_std::test]
async fn split_halves_and_terminate() {
    let addr = echo_server(Config::default()).await;
    let (ws, _) = ws_async_std::connect(&format!("ws://{addr}/"))
        .await
        .unwrap();
    let (mut read, mut write) = ws.split();
    let reader = task::spawn(async move {
        for i in 0..1000 {
            assert_eq!(
                read.next().await.unwrap().unwrap(),
                Message::text(i.to_string())
            );
        }
        read
    });
    for i in 0..1000 {
        write.feed(Message::text(i.to_string())).await.unwrap();
    }
    write.flush().await.unwrap();
    let read = reader.await;
    write.terminate();
    let ws = read.reunite(write).unwrap();
    assert_eq!(ws.closed().unwrap().outcome, Outcome::Terminated);
}

#[async_std::test]
async fn close_timeout_releases_a_silent_peer() {
    use async_std::io::{ReadExt, WriteExt};
    let mut config = Config::default();
    config.protocol.keepalive_interval = None;
    config.protocol.close_timeout = Duration::from_millis(300);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = task::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let ws = ws_async_std::accept_with(stream, config, |_| Decision::accept())
            .await
            .unwrap();
        let start = Instant::now();
        (
            ws.close(CloseCode::NORMAL, "").await.unwrap(),
            start.elapsed(),
        )
    });
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    let mut buf = [0u8; 256];
    let _ = tcp.read(&mut buf).await.unwrap();
    let (closed, elapsed) = server.await;
    assert_eq!(closed.outcome, Outcome::CloseTimeout);
    assert!(elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(2));
    drop(tcp);
}
