//! Server monitoring and graceful shutdown through the public API.

use futures_util::StreamExt;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use ws_tokio::{CloseCode, Config, Decision, Monitor};

/// A server whose connections are counted by `monitor`; each connection just reads.
async fn monitored_server(monitor: Monitor) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = Config::default();
    config.protocol.keepalive_interval = None;
    config.protocol.close_timeout = Duration::from_secs(2);
    config.monitor = Some(monitor);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let config = config.clone();
            tokio::spawn(async move {
                if let Ok(mut ws) =
                    ws_tokio::accept_with(stream, config, |_| Decision::accept()).await
                {
                    while ws.next().await.is_some() {}
                }
            });
        }
    });
    addr
}

async fn settle(monitor: &Monitor, open: u64, closing: u64) {
    for _ in 0..200 {
        let s = monitor.snapshot();
        if s.open == open && s.closing == closing && s.connecting == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!(
        "monitor never reached open={open} closing={closing}: {:?}",
        monitor.snapshot()
    );
}

#[tokio::test]
async fn counts_states_outcomes_codes_and_shuts_down_gracefully() {
    let monitor = Monitor::new();
    let addr = monitored_server(monitor.clone()).await;
    let url = format!("ws://{addr}/");
    let (a, _) = ws_tokio::connect(&url).await.unwrap();
    let (b, _) = ws_tokio::connect(&url).await.unwrap();
    let (mut c, _) = ws_tokio::connect(&url).await.unwrap();
    settle(&monitor, 3, 0).await;

    a.close(CloseCode::NORMAL, "bye").await.unwrap();
    b.terminate();
    settle(&monitor, 1, 0).await;
    let s = monitor.snapshot();
    assert_eq!(s.closed.get("Clean"), Some(&1));
    assert_eq!(s.closed.get("UnexpectedEof"), Some(&1));
    assert_eq!(s.codes_received.get(&1000), Some(&1));
    assert_eq!(s.lifetime.count, 2);
    assert_eq!(
        s.closing_time.count, 1,
        "only the close handshake has a closing time"
    );

    // Graceful shutdown: `c` answers the server's 1001 (its reader is polled below).
    let reader = tokio::spawn(async move {
        while c.next().await.is_some() {}
        c.closed()
    });
    let report = ws_tokio::shutdown(&monitor, Duration::from_secs(1)).await;
    assert_eq!((report.asked, report.closed, report.terminated), (1, 1, 0));
    let closed = reader.await.unwrap().unwrap();
    assert_eq!(closed.code, CloseCode::GOING_AWAY);
    assert!(closed.was_clean);
    settle(&monitor, 0, 0).await;
    assert_eq!(monitor.snapshot().codes_sent.get(&1001), Some(&1));
    assert!(monitor.snapshot().to_json().contains("\"open\":0"));
}

#[tokio::test(start_paused = true)]
async fn shutdown_terminates_peers_that_never_answer_at_the_deadline() {
    let monitor = Monitor::new();
    let addr = monitored_server(monitor.clone()).await;
    let mut silent = TcpStream::connect(addr).await.unwrap();
    silent
        .write_all(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let _ = silent.read(&mut buf).await.unwrap();
    settle(&monitor, 1, 0).await;
    let start = tokio::time::Instant::now();
    let report = ws_tokio::shutdown(&monitor, Duration::from_millis(500)).await;
    assert_eq!((report.asked, report.closed, report.terminated), (1, 0, 1));
    assert!(start.elapsed() >= Duration::from_millis(500));
    settle(&monitor, 0, 0).await;
    assert_eq!(monitor.snapshot().closed.get("Terminated"), Some(&1));
}

/// Opens a raw, hand-driven client connection (so it can misbehave).
async fn raw_upgraded(addr: std::net::SocketAddr) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(tcp.read_u8().await.unwrap());
    }
    tcp
}

#[tokio::test(start_paused = true)]
async fn churn_mode_a_close_handshake_done_but_the_client_keeps_tcp_open() {
    // The client sends Close, reads ours, and never closes its side: the server must not wait.
    let monitor = Monitor::new();
    let addr = monitored_server(monitor.clone()).await;
    let mut client = raw_upgraded(addr).await;
    settle(&monitor, 1, 0).await;
    let start = tokio::time::Instant::now();
    client
        .write_all(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8])
        .await
        .unwrap();
    let mut echo = [0u8; 4];
    client.read_exact(&mut echo).await.unwrap();
    assert_eq!(echo, [0x88, 0x02, 0x03, 0xe8]);
    // The server closed its socket right after its Close: we read EOF without closing ours.
    assert_eq!(client.read(&mut [0u8; 16]).await.unwrap(), 0);
    settle(&monitor, 0, 0).await;
    assert!(
        start.elapsed() < Duration::from_millis(10),
        "{:?}",
        start.elapsed()
    );
    let s = monitor.snapshot();
    assert_eq!(s.closed.get("Clean"), Some(&1));
    assert_eq!(s.closing_time.max, Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn churn_mode_b_client_never_answers_the_servers_close() {
    let monitor = Monitor::new();
    let addr = monitored_server(monitor.clone()).await;
    let _client = raw_upgraded(addr).await;
    settle(&monitor, 1, 0).await;
    let start = tokio::time::Instant::now();
    monitor.close_all(CloseCode::GOING_AWAY, "");
    settle_within(&monitor, Duration::from_secs(3)).await;
    // Released at the server's close timeout (2 s in this config), not a moment later.
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_secs(2) && elapsed < Duration::from_millis(2100),
        "{elapsed:?}"
    );
    let s = monitor.snapshot();
    assert_eq!(s.closed.get("CloseTimeout"), Some(&1));
    assert!(s.closing_time.max >= Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn churn_mode_c_client_vanishes_silently() {
    let monitor = Monitor::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = Config::default();
    config.protocol.keepalive_interval = Some(Duration::from_secs(5));
    config.protocol.keepalive_timeout = Duration::from_secs(5);
    config.monitor = Some(monitor.clone());
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = ws_tokio::accept_with(stream, config, |_| Decision::accept())
            .await
            .unwrap();
        while ws.next().await.is_some() {}
    });
    let _client = raw_upgraded(addr).await;
    settle(&monitor, 1, 0).await;
    let start = tokio::time::Instant::now();
    settle_within(&monitor, Duration::from_secs(11)).await;
    let elapsed = start.elapsed();
    assert!(
        elapsed <= Duration::from_millis(10_100),
        "detected within interval + timeout: {elapsed:?}"
    );
    assert_eq!(monitor.snapshot().closed.get("DeadPeer"), Some(&1));
}

#[tokio::test(start_paused = true)]
async fn churn_mode_d_client_half_closes_tcp_without_a_close_frame() {
    let monitor = Monitor::new();
    let addr = monitored_server(monitor.clone()).await;
    let mut client = raw_upgraded(addr).await;
    settle(&monitor, 1, 0).await;
    client.shutdown().await.unwrap();
    settle(&monitor, 0, 0).await;
    let s = monitor.snapshot();
    assert_eq!(
        s.closed.get("UnexpectedEof"),
        Some(&1),
        "reported as 1006, not clean"
    );
    assert!(s.codes_received.is_empty());
}

/// Waits (in virtual time) until no connection is live, at most `limit`.
async fn settle_within(monitor: &Monitor, limit: Duration) {
    let start = tokio::time::Instant::now();
    while monitor.live() > 0 {
        assert!(start.elapsed() < limit, "still live after {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
