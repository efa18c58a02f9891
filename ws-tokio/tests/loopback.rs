//! ws-tokio over real loopback sockets: messages, ping/pong, every close path seen from the
//! public API, split halves under load, TLS, the accept callback, and virtual-time timeouts.

use futures_util::{SinkExt, StreamExt};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use ws_tokio::{
    fragment, CloseCode, Config, Decision, Error, Initiator, Message, MessageKind, Outcome, State,
    WebSocket,
};

/// Serves every connection on a fresh port with `handler`.
async fn serve<F, Fut>(config: Config, handler: F) -> SocketAddr
where
    F: Fn(WebSocket<TcpStream>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handler = Arc::new(handler);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let handler = handler.clone();
            let config = config.clone();
            tokio::spawn(async move {
                if let Ok(ws) = ws_tokio::accept_with(stream, config, |_| Decision::accept()).await
                {
                    handler(ws).await;
                }
            });
        }
    });
    addr
}

async fn echo(mut ws: WebSocket<TcpStream>) {
    while let Some(Ok(message)) = ws.next().await {
        if matches!(message, Message::Text(_) | Message::Binary(_))
            && ws.send(message).await.is_err()
        {
            break;
        }
    }
}

/// A server that reports each connection's final `Closed` (and what it received) on a channel.
async fn reporting_server(
    config: Config,
) -> (
    SocketAddr,
    mpsc::UnboundedReceiver<(Vec<Message>, Result<(), String>, Option<ws_tokio::Closed>)>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let addr = serve(config, move |mut ws| {
        let tx = tx.clone();
        async move {
            let mut received = Vec::new();
            let mut end = Ok(());
            while let Some(item) = ws.next().await {
                match item {
                    Ok(message) => received.push(message),
                    Err(e) => end = Err(e.to_string()),
                }
            }
            let _ = tx.send((received, end, ws.closed()));
        }
    })
    .await;
    (addr, rx)
}

fn no_keepalive() -> Config {
    let mut config = Config::default();
    config.protocol.keepalive_interval = None;
    config
}

#[tokio::test]
async fn echoes_text_binary_fragmented_and_16_mib_messages() {
    let addr = serve(Config::default(), echo).await;
    let (mut ws, response) = ws_tokio::connect(&format!("ws://{addr}/echo"))
        .await
        .unwrap();
    assert_eq!(response.status(), 101);
    assert_eq!(ws.state(), State::Open);

    ws.send(Message::text("héllo")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("héllo"));
    ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        Message::binary(vec![1u8, 2, 3])
    );

    ws.feed(fragment(MessageKind::Text, "frag", false))
        .await
        .unwrap();
    ws.feed(Message::Ping("mid".into())).await.unwrap();
    ws.send(fragment(MessageKind::Text, "mented", true))
        .await
        .unwrap();
    let mut got = Vec::new();
    while got.len() < 2 {
        got.push(ws.next().await.unwrap().unwrap());
    }
    assert!(got.contains(&Message::Pong("mid".into())));
    assert!(got.contains(&Message::text("fragmented")));

    let big: Vec<u8> = (0..16 << 20).map(|i| (i % 253) as u8).collect();
    ws.send(Message::binary(big.clone())).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::binary(big));

    let closed = ws.close(CloseCode::NORMAL, "bye").await.unwrap();
    assert!(closed.was_clean);
    assert_eq!(ws.state(), State::Closed);
}

#[tokio::test]
async fn client_initiated_close_is_clean_on_both_sides_and_nothing_is_lost() {
    let (addr, mut reports) = reporting_server(no_keepalive()).await;
    let (mut ws, _) = ws_tokio::connect(&format!("ws://{addr}/")).await.unwrap();
    for i in 0..100 {
        ws.feed(Message::text(format!("m{i}"))).await.unwrap();
    }
    ws.flush().await.unwrap();
    let closed = ws.close(CloseCode::NORMAL, "done").await.unwrap();
    assert!(closed.was_clean);
    assert_eq!(closed.initiator, Initiator::Local);
    assert_eq!(closed.outcome, Outcome::Clean);
    // The stream still holds the server's Close, then ends: a clean end is `None`, not an error.
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        Message::close(CloseCode::NORMAL, "done")
    );
    assert!(ws.next().await.is_none(), "a clean end ends the stream");

    let (received, end, server_closed) = reports.recv().await.unwrap();
    assert_eq!(end, Ok(()));
    for (i, message) in received.iter().take(100).enumerate() {
        assert_eq!(*message, Message::text(format!("m{i}")));
    }
    assert_eq!(received[100], Message::close(CloseCode::NORMAL, "done"));
    let server_closed = server_closed.unwrap();
    assert!(server_closed.was_clean);
    assert_eq!(server_closed.initiator, Initiator::Remote);
    assert_eq!(server_closed.code, CloseCode::NORMAL);
}

#[tokio::test]
async fn server_initiated_close_is_clean() {
    let addr = serve(no_keepalive(), |ws| async move {
        ws.close(CloseCode::GOING_AWAY, "restart").await.unwrap();
    })
    .await;
    let (mut ws, _) = ws_tokio::connect(&format!("ws://{addr}/")).await.unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        Message::close(CloseCode::GOING_AWAY, "restart")
    );
    assert!(ws.next().await.is_none());
    let closed = ws.closed().unwrap();
    assert!(closed.was_clean);
    assert_eq!(closed.initiator, Initiator::Remote);
    assert_eq!(closed.code, CloseCode::GOING_AWAY);
}

#[tokio::test]
async fn simultaneous_close_is_clean() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let addr = serve(no_keepalive(), move |ws| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(ws.close(CloseCode(4001), "server").await.unwrap());
        }
    })
    .await;
    let (ws, _) = ws_tokio::connect(&format!("ws://{addr}/")).await.unwrap();
    let closed = ws.close(CloseCode(4000), "client").await.unwrap();
    let server = rx.recv().await.unwrap();
    assert!(closed.was_clean && server.was_clean);
    // Whether the frames crossed or one side's arrived first (then it is echoed), each side
    // received one of the two codes. The exact crossing is tested deterministically in ws-proto.
    for received in [server.received.unwrap().code, closed.received.unwrap().code] {
        assert!([CloseCode(4000), CloseCode(4001)].contains(&received));
    }
}

#[tokio::test]
async fn terminate_is_abnormal_for_the_peer() {
    let (addr, mut reports) = reporting_server(no_keepalive()).await;
    let (ws, _) = ws_tokio::connect(&format!("ws://{addr}/")).await.unwrap();
    ws.terminate();
    assert_eq!(ws.state(), State::Closed);
    assert_eq!(ws.closed().unwrap().outcome, Outcome::Terminated);
    let (_, end, closed) = reports.recv().await.unwrap();
    assert!(end.unwrap_err().contains("UnexpectedEof"));
    let closed = closed.unwrap();
    assert_eq!(closed.code, CloseCode::ABNORMAL);
    assert!(!closed.was_clean);
}

/// Does the client handshake by hand on a raw socket, then returns it: a peer that can go silent.
async fn raw_client(addr: SocketAddr) -> TcpStream {
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
    assert!(head.starts_with(b"HTTP/1.1 101"));
    tcp
}

#[tokio::test(start_paused = true)]
async fn keepalive_detects_a_vanished_peer_in_virtual_time() {
    let mut config = Config::default();
    config.protocol.keepalive_interval = Some(Duration::from_secs(20));
    config.protocol.keepalive_timeout = Duration::from_secs(10);
    let (addr, mut reports) = reporting_server(config).await;
    let _silent = raw_client(addr).await;
    let start = tokio::time::Instant::now();
    let (_, end, closed) = reports.recv().await.unwrap();
    assert!(end.unwrap_err().contains("DeadPeer"));
    assert_eq!(closed.unwrap().outcome, Outcome::DeadPeer);
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_secs(30) && elapsed < Duration::from_secs(31),
        "{elapsed:?}"
    );
}

/// The idle release and the core's deadlines share one timer: after the release fires (1 s
/// after the message), the timer must be armed again for the keepalive.
#[tokio::test(start_paused = true)]
async fn keepalive_still_detects_a_vanished_peer_after_the_idle_release() {
    let mut config = Config::default();
    config.protocol.keepalive_interval = Some(Duration::from_secs(20));
    config.protocol.keepalive_timeout = Duration::from_secs(10);
    let (addr, mut reports) = reporting_server(config).await;
    let mut client = raw_client(addr).await;
    let mask = [7u8, 1, 2, 3];
    let mut frame = vec![0x81, 0x80 | 2];
    frame.extend_from_slice(&mask);
    frame.extend(b"hi".iter().zip(mask).map(|(b, m)| b ^ m));
    client.write_all(&frame).await.unwrap();
    let start = tokio::time::Instant::now();
    let report = tokio::time::timeout(Duration::from_secs(60), reports.recv()).await;
    let (received, end, closed) = report.expect("keepalive never fired").unwrap();
    assert_eq!(received, [Message::text("hi")]);
    assert!(end.unwrap_err().contains("DeadPeer"));
    assert_eq!(closed.unwrap().outcome, Outcome::DeadPeer);
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_secs(30) && elapsed < Duration::from_secs(31),
        "{elapsed:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn close_resolves_at_the_close_timeout_when_the_peer_never_answers() {
    let mut config = no_keepalive();
    config.protocol.close_timeout = Duration::from_secs(3);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let addr = serve(config, move |ws| {
        let tx = tx.clone();
        async move {
            let start = tokio::time::Instant::now();
            let closed = ws.close(CloseCode::NORMAL, "").await.unwrap();
            let _ = tx.send((closed, start.elapsed()));
        }
    })
    .await;
    let _silent = raw_client(addr).await;
    let (closed, elapsed) = rx.recv().await.unwrap();
    assert_eq!(closed.outcome, Outcome::CloseTimeout);
    assert!(!closed.was_clean);
    assert!(
        elapsed >= Duration::from_secs(3) && elapsed < Duration::from_millis(3100),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn split_halves_under_concurrent_load_then_close_from_the_writer() {
    let addr = serve(Config::default(), echo).await;
    let (ws, _) = ws_tokio::connect(&format!("ws://{addr}/")).await.unwrap();
    let (mut read, mut write) = ws.split();
    const N: usize = 2000;
    let reader = tokio::spawn(async move {
        let mut count = 0;
        while count < N {
            match read.next().await {
                Some(Ok(Message::Text(text))) => {
                    assert_eq!(text, format!("message {count}"));
                    count += 1;
                }
                other => panic!("{other:?}"),
            }
        }
        read
    });
    for i in 0..N {
        write
            .feed(Message::text(format!("message {i}")))
            .await
            .unwrap();
    }
    write.flush().await.unwrap();
    let mut read = reader.await.unwrap();
    // The writer closes while the reader half sits idle in another variable.
    let closed = write.close(CloseCode::NORMAL, "").await.unwrap();
    assert!(closed.was_clean);
    assert!(matches!(read.next().await, Some(Ok(Message::Close(_)))));
    assert!(read.next().await.is_none());
    assert!(read.reunite(write).is_ok());
}

#[tokio::test]
async fn a_reader_alone_answers_pings_and_closes_while_the_writer_is_idle() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let addr = serve(no_keepalive(), move |mut ws| {
        let tx = tx.clone();
        async move {
            ws.send(Message::Ping("are you there".into()))
                .await
                .unwrap();
            let pong = ws.next().await.unwrap().unwrap();
            let closed = ws.close(CloseCode::NORMAL, "").await.unwrap();
            let _ = tx.send((pong, closed));
        }
    })
    .await;
    let (ws, _) = ws_tokio::connect(&format!("ws://{addr}/")).await.unwrap();
    let (mut read, _write) = ws.split();
    assert_eq!(
        read.next().await.unwrap().unwrap(),
        Message::Ping("are you there".into())
    );
    assert!(matches!(read.next().await, Some(Ok(Message::Close(_)))));
    assert!(read.next().await.is_none());
    let (pong, closed) = rx.recv().await.unwrap();
    assert_eq!(pong, Message::Pong("are you there".into()));
    assert!(closed.was_clean);
}

#[tokio::test]
async fn next_is_cancellation_safe() {
    const N: usize = 500;
    let addr = serve(no_keepalive(), |mut ws| async move {
        for i in 0..N {
            ws.feed(Message::text(i.to_string())).await.unwrap();
            if i % 50 == 0 {
                ws.flush().await.unwrap();
                tokio::task::yield_now().await;
            }
        }
        ws.flush().await.unwrap();
        let _ = ws.close(CloseCode::NORMAL, "").await;
    })
    .await;
    let (mut ws, _) = ws_tokio::connect(&format!("ws://{addr}/")).await.unwrap();
    let mut expected = 0;
    let mut cancelled = 0;
    loop {
        tokio::select! {
            biased;
            _ = tokio::task::yield_now() => { cancelled += 1; }
            message = ws.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    assert_eq!(text, expected.to_string());
                    expected += 1;
                }
                Some(Ok(Message::Close(_))) => {}
                None => break,
                other => panic!("{other:?}"),
            },
        }
    }
    assert_eq!(
        expected, N,
        "no message lost to {cancelled} cancelled next() calls"
    );
    assert!(cancelled > 0);
}

#[tokio::test]
async fn accept_callback_picks_a_subprotocol_or_refuses() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let result = ws_tokio::accept_with(stream, Config::default(), |request| {
                    if request.uri().path() == "/private" {
                        return Decision::Respond(
                            http::Response::builder()
                                .status(403)
                                .body("go away".into())
                                .unwrap(),
                        );
                    }
                    Decision::accept_subprotocol("v2.chat")
                })
                .await;
                if let Ok(ws) = result {
                    echo(ws).await;
                }
            });
        }
    });
    let mut request = ws_proto::ClientHandshake::request(&format!("ws://{addr}/chat")).unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "v1.chat, v2.chat".parse().unwrap(),
    );
    let (_ws, response) = ws_tokio::connect_with(request, Config::default())
        .await
        .unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "v2.chat");

    match ws_tokio::connect(&format!("ws://{addr}/private")).await {
        Err(Error::Handshake(ws_proto::HandshakeError::Rejected(response))) => {
            assert_eq!(response.status(), 403);
            assert_eq!(response.body().as_ref(), b"go away");
        }
        other => panic!("{other:?}"),
    }
}

use ws_tokio::ws_proto;

#[tokio::test]
async fn tls_round_trip_with_a_self_signed_certificate() {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert_der = CertificateDer::from(cert.cert.der().to_vec());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_pair.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server_config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert_der.clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let tls = acceptor.accept(tcp).await.unwrap();
        let ws = ws_tokio::accept(tls).await.unwrap();
        let (mut read, mut write) = ws.split();
        while let Some(Ok(message)) = read.next().await {
            if let Message::Text(_) = message {
                write.send(message).await.unwrap();
            }
        }
    });
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert_der).unwrap();
    let client_config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let request = ws_proto::ClientHandshake::request(&format!("wss://localhost:{port}/")).unwrap();
    let (mut ws, _) =
        ws_tokio::connect_with_tls(request, Config::default(), Arc::new(client_config))
            .await
            .unwrap();
    ws.send(Message::text("over TLS")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("over TLS"));
    let closed = ws.close(CloseCode::NORMAL, "").await.unwrap();
    assert!(closed.was_clean);
}

#[tokio::test]
async fn plain_http_requests_get_426_from_accept() {
    let addr = serve(Config::default(), echo).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).await.unwrap();
    assert!(
        response.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
        "{response}"
    );
}

#[tokio::test]
async fn accept_sends_the_101_before_returning_even_if_the_socket_is_never_polled() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let ws = ws_tokio::accept(stream).await.unwrap();
        // Hold the WebSocket without ever polling it until the client has opened.
        let _ = rx.await;
        drop(ws);
    });
    let (_ws, response) = tokio::time::timeout(
        Duration::from_secs(5),
        ws_tokio::connect(&format!("ws://{addr}/")),
    )
    .await
    .expect("the client got its 101 without the server polling")
    .unwrap();
    assert_eq!(response.status(), 101);
    let _ = tx.send(());
}

#[tokio::test]
async fn permessage_deflate_is_negotiated_by_default_and_can_be_declined() {
    let addr = serve(Config::default(), |ws| async move {
        assert!(ws.is_compressing());
        echo(ws).await
    })
    .await;
    let (mut ws, response) = ws_tokio::connect(&format!("ws://{addr}/")).await.unwrap();
    let extensions = response.headers()["sec-websocket-extensions"]
        .to_str()
        .unwrap();
    assert_eq!(extensions, "permessage-deflate");
    assert!(ws.is_compressing());
    let text = "compressible text ".repeat(1000);
    ws.send(Message::text(text.clone())).await.unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        Message::text(text.clone())
    );
    let noise: Vec<u8> = (0..50_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    ws.send_with(Message::binary(noise.clone()), ws_tokio::Compression::Never)
        .await
        .unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::binary(noise));
    ws.close(CloseCode::NORMAL, "").await.unwrap();

    // A server with compression off: the client's offer is declined, messages flow uncompressed.
    let mut plain = Config::default();
    plain.protocol.deflate = None;
    let addr = serve(plain, |ws| async move {
        assert!(!ws.is_compressing());
        echo(ws).await
    })
    .await;
    let (mut ws, response) = ws_tokio::connect(&format!("ws://{addr}/")).await.unwrap();
    assert!(response.headers().get("sec-websocket-extensions").is_none());
    assert!(!ws.is_compressing());
    ws.send(Message::text(text.clone())).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text(text));
}

#[tokio::test]
async fn a_prepared_message_is_broadcast_to_every_connection() {
    let (tx, _) = tokio::sync::broadcast::channel::<ws_tokio::PreparedMessage>(16);
    let hub = tx.clone();
    let addr = serve(Config::default(), move |mut ws| {
        let mut rx = hub.subscribe();
        async move {
            while let Ok(prepared) = rx.recv().await {
                if ws.send(Message::Prepared(prepared)).await.is_err() {
                    break;
                }
            }
        }
    })
    .await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        let (ws, _) = ws_tokio::connect(&format!("ws://{addr}/")).await.unwrap();
        clients.push(ws);
    }
    while tx.receiver_count() < 3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let long = "everyone ".repeat(500);
    tx.send(ws_tokio::PreparedMessage::text("hello, all"))
        .unwrap();
    tx.send(ws_tokio::PreparedMessage::text(&long)).unwrap();
    for ws in &mut clients {
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::text("hello, all")
        );
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::text(long.clone())
        );
    }
}

#[tokio::test]
async fn a_batch_of_large_and_small_messages_arrives_whole_and_in_order() {
    // The server writes large payloads from the application's buffers (vectored writes, with
    // partial writes once the socket buffer fills) between small frames copied into its buffer.
    let sizes = [10usize, 70_000, 3, 4096, 4095, 1 << 20, 0, 200_000, 17];
    let messages: Vec<Message> = sizes
        .iter()
        .enumerate()
        .map(|(i, &len)| {
            let data: Vec<u8> = (0..len).map(|b| (b * 7 + i) as u8).collect();
            if i % 3 == 2 {
                Message::text(
                    String::from_utf8(data.iter().map(|b| b'a' + b % 26).collect()).unwrap(),
                )
            } else {
                Message::binary(data)
            }
        })
        .collect();
    let batch = messages.clone();
    let mut config = no_keepalive();
    config.protocol.deflate = None;
    let addr = serve(config, move |mut ws| {
        let batch = batch.clone();
        async move {
            // Wait for the client's go, then queue everything and flush once.
            let _ = ws.next().await;
            for message in batch {
                ws.feed(message).await.unwrap();
            }
            ws.flush().await.unwrap();
            let _ = ws.next().await;
        }
    })
    .await;
    let (mut ws, _) = ws_tokio::connect(&format!("ws://{addr}/")).await.unwrap();
    ws.send(Message::text("go")).await.unwrap();
    for expected in &messages {
        assert_eq!(&ws.next().await.unwrap().unwrap(), expected);
    }
    ws.close(CloseCode::NORMAL, "").await.unwrap();
}

#[tokio::test]
async fn large_messages_the_server_holds_stay_intact_while_it_reads_on() {
    // Over tokio a large binary message that arrives whole is a slice of the thread's read
    // buffer, unmasked in place: while one is held, the next read must go into a new buffer.
    // The server holds every message until all have arrived, then echoes them.
    let sizes = [
        70_000usize,
        65_536,
        100_000,
        66_000,
        250_000,
        70_001,
        64_000,
        80_000,
    ];
    let messages: Vec<Message> = sizes
        .iter()
        .enumerate()
        .map(|(i, &len)| Message::binary((0..len).map(|b| (b * 13 + i) as u8).collect::<Vec<_>>()))
        .collect();
    let count = messages.len();
    let mut config = no_keepalive();
    config.protocol.deflate = None;
    let addr = serve(config, move |mut ws| async move {
        let mut held = Vec::new();
        while held.len() < count {
            held.push(ws.next().await.unwrap().unwrap());
        }
        for message in held {
            ws.feed(message).await.unwrap();
        }
        ws.flush().await.unwrap();
        let _ = ws.next().await;
    })
    .await;
    let (mut ws, _) = ws_tokio::connect(&format!("ws://{addr}/")).await.unwrap();
    for message in &messages {
        ws.feed(message.clone()).await.unwrap();
    }
    ws.flush().await.unwrap();
    for expected in &messages {
        assert_eq!(&ws.next().await.unwrap().unwrap(), expected);
    }
    ws.close(CloseCode::NORMAL, "").await.unwrap();
}
