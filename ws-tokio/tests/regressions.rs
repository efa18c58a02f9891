//! Regression tests for driver bugs found in review: each failed before its fix.
//! (terminate woke no one; two messages then a bad frame hung an echo loop; a backlogged server
//! dropped its Close echo; poll_ready hung while a failure was held; a write-only user declared a
//! live peer dead; accepting an unoffered subprotocol busy-looped; each fed message was written
//! on its own; a WebSocket moved to another task kept its timers registered with the old one.)

use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use ws_tokio::{CloseCode, Config, Message, Role};

fn no_keepalive() -> Config {
    let mut c = Config::default();
    c.protocol.keepalive_interval = None;
    c
}

/// masked client frame
fn frame(op: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0x80 | op];
    assert!(payload.len() < 126);
    v.push(0x80 | payload.len() as u8);
    let mask = [1u8, 2, 3, 4];
    v.extend_from_slice(&mask);
    v.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    v
}

#[tokio::test]
async fn terminate_wakes_the_other_half() {
    let (a, _b) = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map(|l| (l, ()))
        .unwrap();
    let addr = a.local_addr().unwrap();
    let c = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (_s, _) = a.accept().await.unwrap();
    let ws = ws_tokio::from_raw_socket(c, Role::Client, no_keepalive());
    let (mut r, w) = ws.split();
    let reader = tokio::spawn(async move { r.next().await.map(|x| x.map_err(|e| e.to_string())) });
    tokio::time::sleep(Duration::from_millis(100)).await;
    w.terminate();
    let res = tokio::time::timeout(Duration::from_secs(3), reader).await;
    println!("t1 result: {res:?}");
    assert!(res.is_ok(), "read half never woken after terminate()");
}

#[tokio::test]
async fn two_messages_then_a_bad_frame_do_not_hang_an_echo_loop() {
    let (c, s) = tokio::io::duplex(1 << 16);
    let server = tokio::spawn(async move {
        let mut ws = ws_tokio::from_raw_socket(s, Role::Server, no_keepalive());
        let mut n = 0;
        while let Some(Ok(m)) = ws.next().await {
            n += 1;
            println!("server got {m:?}");
            if ws.send(m).await.is_err() {
                break;
            }
        }
        n
    });
    let mut c = c;
    let mut bytes = frame(1, b"one");
    bytes.extend(frame(1, b"two"));
    bytes.extend(frame(7, b"bad")); // reserved opcode
    c.write_all(&bytes).await.unwrap();
    let res = tokio::time::timeout(Duration::from_secs(3), server).await;
    let mut got = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_millis(200), c.read(&mut got)).await;
    println!(
        "t2 server: {res:?}; client read {n:?} {:?}",
        n.as_ref()
            .ok()
            .and_then(|r| r.as_ref().ok())
            .map(|&n| got[..n].to_vec())
    );
    assert!(res.is_ok(), "server echo loop hung");
}

#[tokio::test]
async fn a_backlogged_server_still_delivers_its_close_echo() {
    let (c, s) = tokio::io::duplex(4096);
    let server = tokio::spawn(async move {
        let mut ws = ws_tokio::from_raw_socket(s, Role::Server, no_keepalive());
        ws.feed(Message::binary(vec![7u8; 256 * 1024]))
            .await
            .unwrap();
        while let Some(m) = ws.next().await {
            println!("server got {:?}", m.map(|_| ()));
        }
        ws.closed()
    });
    let client = ws_tokio::from_raw_socket(c, Role::Client, no_keepalive());
    let (mut r, w) = client.split();
    let reader = tokio::spawn(async move {
        let mut v = vec![];
        while let Some(m) = r.next().await {
            v.push(
                m.map(|m| match m {
                    Message::Binary(b) => format!("bin {}", b.len()),
                    o => format!("{o:?}"),
                })
                .map_err(|e| e.to_string()),
            );
        }
        v
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let closed =
        tokio::time::timeout(Duration::from_secs(3), w.close(CloseCode::NORMAL, "bye")).await;
    println!("t3 client close: {closed:?}");
    println!("t3 server: {:?}", server.await);
    println!("t3 client reader: {:?}", reader.await);
    let closed = closed.unwrap().unwrap();
    assert!(closed.was_clean, "client saw {closed:?}");
}

#[tokio::test]
async fn poll_ready_does_not_hang_while_a_failure_is_held() {
    let (c, s) = tokio::io::duplex(1 << 20);
    let server = tokio::spawn(async move {
        let mut ws = ws_tokio::from_raw_socket(s, Role::Server, no_keepalive());
        let m = ws.next().await;
        println!("server got {m:?}");
        ws.feed(Message::binary(vec![0u8; 2 << 20])).await.unwrap();
        println!("first feed done");
        ws.feed(Message::binary(vec![0u8; 10]))
            .await
            .map_err(|e| e.to_string())
    });
    let mut c = c;
    let mut bytes = frame(1, b"one");
    bytes.extend(frame(7, b"bad"));
    c.write_all(&bytes).await.unwrap();
    // drain so the socket is not the limit
    tokio::spawn(async move {
        let mut b = vec![0u8; 1 << 16];
        while c.read(&mut b).await.unwrap_or(0) > 0 {}
    });
    let res = tokio::time::timeout(Duration::from_secs(3), server).await;
    println!("t4: {res:?}");
    assert!(res.is_ok(), "second feed (poll_ready) hung");
}

#[tokio::test(start_paused = true)]
async fn a_write_only_user_keeps_a_live_peer_alive() {
    let (c, s) = tokio::io::duplex(1 << 20);
    let mut cfg = Config::default();
    cfg.protocol.keepalive_interval = Some(Duration::from_secs(20));
    cfg.protocol.keepalive_timeout = Duration::from_secs(20);
    let server = ws_tokio::from_raw_socket(s, Role::Server, cfg);
    let (_r, mut w) = server.split();
    let client = tokio::spawn(async move {
        let mut ws = ws_tokio::from_raw_socket(c, Role::Client, no_keepalive());
        let mut n = 0;
        while let Some(Ok(_)) = ws.next().await {
            n += 1;
        }
        (n, ws.closed())
    });
    let mut sent = 0;
    for _ in 0..60 {
        if w.send(Message::text("tick")).await.is_err() {
            break;
        }
        sent += 1;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    println!("t5 sent {sent}");
    println!("t5 client: {:?}", client.await);
}

#[tokio::test]
async fn a_backlogged_server_flushes_everything_before_closing() {
    let (mut c, s) = tokio::io::duplex(4096);
    let server = tokio::spawn(async move {
        let mut ws = ws_tokio::from_raw_socket(s, Role::Server, no_keepalive());
        ws.feed(Message::binary(vec![7u8; 256 * 1024]))
            .await
            .unwrap();
        while let Some(m) = ws.next().await {
            println!("server got {:?}", m.map(|_| ()));
        }
        ws.closed()
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    c.write_all(&frame(8, &[0x03, 0xe8])).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut all = vec![];
    let _ = tokio::time::timeout(Duration::from_secs(2), c.read_to_end(&mut all)).await;
    println!("t3b server: {:?}", server.await);
    println!(
        "t3b client got {} bytes, expected {}; tail {:x?}",
        all.len(),
        256 * 1024 + 10 + 4,
        &all[all.len().saturating_sub(6)..]
    );
    assert_eq!(all.len(), 256 * 1024 + 10 + 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepting_an_unoffered_subprotocol_answers_500_and_ends() {
    let (mut c, s) = tokio::io::duplex(1 << 16);
    let server = tokio::spawn(async move {
        ws_tokio::accept_with(s, no_keepalive(), |_| {
            ws_tokio::Decision::accept_subprotocol("nope")
        })
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
    });
    c.write_all(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    let mut resp = vec![0u8; 1024];
    let r = tokio::time::timeout(Duration::from_millis(500), c.read(&mut resp)).await;
    println!(
        "t6 client got response? {:?}",
        r.map(|r| r.map(|n| String::from_utf8_lossy(&resp[..n]).into_owned()))
    );
    drop(c); // client gives up
    let t0 = std::time::Instant::now();
    let cpu = || {
        let st = std::fs::read_to_string("/proc/self/stat").unwrap();
        let f: Vec<&str> = st.rsplit(')').next().unwrap().split_whitespace().collect();
        f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
    };
    let c0 = cpu();
    let res = tokio::time::timeout(Duration::from_secs(2), server).await;
    println!("t6 cpu ticks during 2s wait: {}", cpu() - c0);
    println!("t6 server after client EOF: {res:?} ({:?})", t0.elapsed());
    assert!(res.is_ok());
}

/// Counts the writes that reach the socket.
struct CountingIo {
    inner: tokio::io::DuplexStream,
    writes: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl tokio::io::AsyncRead for CountingIo {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for CountingIo {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let result = std::pin::Pin::new(&mut self.inner).poll_write(cx, data);
        if result.is_ready() {
            self.writes
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        result
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// `feed` used to write each message at the next `poll_ready`: one syscall per message in an
/// echo loop. Messages fed in a row now go out together at the flush, and a reader that has
/// nothing left to hand over still sends what the connection owes (the Pong).
#[tokio::test]
async fn fed_messages_go_out_in_one_write_at_the_flush() {
    let (ours, mut theirs) = tokio::io::duplex(1 << 20);
    let writes = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let io = CountingIo {
        inner: ours,
        writes: writes.clone(),
    };
    let mut ws = ws_tokio::from_raw_socket(io, Role::Server, no_keepalive());
    for i in 0..100 {
        ws.feed(Message::text(format!("message {i}")))
            .await
            .unwrap();
    }
    assert_eq!(writes.load(std::sync::atomic::Ordering::Relaxed), 0);
    ws.flush().await.unwrap();
    assert_eq!(writes.load(std::sync::atomic::Ordering::Relaxed), 1);
    let mut buf = vec![0u8; 4096];
    let n = theirs.read(&mut buf).await.unwrap();
    assert_eq!(
        n,
        100 * 2
            + (0..100)
                .map(|i| format!("message {i}").len())
                .sum::<usize>()
    );

    // A Ping while the application only reads: the Pong goes out without a flush.
    theirs
        .write_all(&frame(0x9, b"are you there"))
        .await
        .unwrap();
    theirs.write_all(&frame(0x1, b"hi")).await.unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        Message::Ping("are you there".into())
    );
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("hi"));
    // The reader now waits for more: the Pong must already be on its way.
    let reader = tokio::spawn(async move { ws.next().await.map(|m| m.is_ok()) });
    let n = theirs.read(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], [&[0x8a, 13][..], b"are you there"].concat());
    reader.abort();
}

/// A server WebSocket with a 1 s keepalive over an in-memory stream whose peer (returned, to
/// keep it open) never answers, polled once from this task: its timers hold this task's waker.
async fn polled_server_with_a_silent_peer() -> (
    ws_tokio::WebSocket<tokio::io::DuplexStream>,
    tokio::io::DuplexStream,
) {
    let (c, s) = tokio::io::duplex(1 << 20);
    let mut cfg = Config::default();
    cfg.protocol.keepalive_interval = Some(Duration::from_secs(1));
    cfg.protocol.keepalive_timeout = Duration::from_secs(1);
    let mut server = ws_tokio::from_raw_socket(s, Role::Server, cfg);
    let first = tokio::time::timeout(Duration::from_millis(100), server.next()).await;
    assert!(first.is_err(), "nothing to read yet");
    (server, c)
}

/// The driver polls a registered timer only once its deadline passed, so a timer must be
/// registered again when the WebSocket is polled from a new task; otherwise it wakes the old
/// task and the new one waits forever (here: for the keepalive to find the peer dead).
#[tokio::test(start_paused = true)]
async fn a_websocket_moved_to_another_task_still_runs_its_timers() {
    let (mut server, _silent_client) = polled_server_with_a_silent_peer().await;
    let mover = tokio::spawn(async move {
        let end = server.next().await;
        (end.map(|r| r.map_err(|e| e.to_string())), server.closed())
    });
    let (end, closed) = tokio::time::timeout(Duration::from_secs(30), mover)
        .await
        .expect("the moved WebSocket's keepalive never fired")
        .unwrap();
    let closed = closed.expect("closed");
    assert_eq!(closed.code, CloseCode::ABNORMAL, "{end:?} {closed:?}");
    assert!(matches!(end, Some(Err(_))), "{end:?}");
}

/// The same when the WebSocket is split after a poll: the timer holds the whole WebSocket's
/// task waker, and must be registered again with the halves' (the reader here waits in a task
/// of its own, the writer in none).
#[tokio::test(start_paused = true)]
async fn a_websocket_split_after_a_poll_still_runs_its_timers() {
    let (server, _silent_client) = polled_server_with_a_silent_peer().await;
    let (mut reader, _writer) = server.split();
    let reading = tokio::spawn(async move { reader.next().await.map(|r| r.is_ok()) });
    let end = tokio::time::timeout(Duration::from_secs(30), reading)
        .await
        .expect("the split WebSocket's keepalive never fired")
        .unwrap();
    assert_eq!(
        end,
        Some(false),
        "the dead peer ends the stream with an error"
    );
}

/// Timeouts set to `Duration::MAX` (never) used to overflow the clock's `Instant` arithmetic
/// and panic in the handshake; both sides must handshake and echo as usual.
#[tokio::test]
async fn timeouts_of_duration_max_mean_never() {
    let mut config = Config::default();
    config.protocol.handshake_timeout = Duration::MAX;
    config.protocol.close_timeout = Duration::MAX;
    config.protocol.keepalive_interval = Some(Duration::MAX);
    config.protocol.keepalive_timeout = Duration::MAX;
    let listener = ws_tokio::listen("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let server_config = config.clone();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = ws_tokio::accept_with(stream, server_config, |_| ws_tokio::Decision::accept())
            .await
            .unwrap();
        while let Some(Ok(m)) = ws.next().await {
            if matches!(m, Message::Text(_)) {
                ws.send(m).await.unwrap();
            }
        }
    });
    let request = ws_tokio::ws_proto::ClientHandshake::request(&format!("ws://{addr}/")).unwrap();
    let (mut ws, _) = ws_tokio::connect_with(request, config).await.unwrap();
    ws.send(Message::text("hello")).await.unwrap();
    assert!(matches!(ws.next().await, Some(Ok(Message::Text(t))) if t == "hello"));
    ws.close(CloseCode::NORMAL, "").await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap();
}
