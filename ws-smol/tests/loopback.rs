//! ws-smol over real loopback sockets: messages, every close path seen from the public API,
//! split halves under load, TLS, and timeouts (smol has no virtual clock: short real timers).

use async_net::{TcpListener, TcpStream};
use futures_util::{SinkExt, StreamExt};
use smol::io::{AsyncReadExt, AsyncWriteExt};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use ws_smol::{
    fragment, CloseCode, Config, Decision, Initiator, Message, MessageKind, Outcome, State,
    WebSocket,
};

type Report = (Vec<Message>, Result<(), String>, Option<ws_smol::Closed>);

async fn serve<F, Fut>(config: Config, handler: F) -> SocketAddr
where
    F: Fn(WebSocket<TcpStream>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = ws_smol::listen("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let handler = Arc::new(handler);
    smol::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let handler = handler.clone();
            let config = config.clone();
            smol::spawn(async move {
                if let Ok(ws) = ws_smol::accept_with(stream, config, |_| Decision::accept()).await {
                    handler(ws).await;
                }
            })
            .detach();
        }
    })
    .detach();
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

async fn reporting_server(config: Config) -> (SocketAddr, async_channel::Receiver<Report>) {
    let (tx, rx) = async_channel::unbounded();
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
            let _ = tx.send((received, end, ws.closed())).await;
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

#[test]
fn echoes_text_binary_fragmented_and_16_mib_messages() {
    smol::block_on(async {
        let addr = serve(Config::default(), echo).await;
        let (mut ws, response) = ws_smol::connect(&format!("ws://{addr}/")).await.unwrap();
        assert_eq!(response.status(), 101);
        ws.send(Message::text("héllo")).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("héllo"));
        ws.feed(fragment(MessageKind::Binary, vec![1u8], false))
            .await
            .unwrap();
        ws.send(fragment(MessageKind::Binary, vec![2u8], true))
            .await
            .unwrap();
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::binary(vec![1u8, 2])
        );
        ws.send(Message::Ping("p".into())).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::Pong("p".into()));
        let big: Vec<u8> = (0..16 << 20).map(|i| (i % 251) as u8).collect();
        ws.send(Message::binary(big.clone())).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::binary(big));
        assert!(ws.close(CloseCode::NORMAL, "").await.unwrap().was_clean);
        assert_eq!(ws.state(), State::Closed);
    });
}

/// `smol::Async<std::net::TcpStream>` on both sides (the leaner socket the crate docs advise
/// for servers holding many connections), the server's listener from `ws_smol::listen`.
#[test]
fn async_io_sockets_echo_and_close_cleanly() {
    smol::block_on(async {
        let listener: Arc<smol::Async<std::net::TcpListener>> =
            ws_smol::listen("127.0.0.1:0".parse().unwrap())
                .unwrap()
                .into();
        let addr = listener.get_ref().local_addr().unwrap();
        let server = smol::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut ws = ws_smol::accept(stream).await.unwrap();
            let mut echoed = 0;
            while let Some(Ok(message)) = ws.next().await {
                if matches!(message, Message::Text(_) | Message::Binary(_)) {
                    ws.send(message).await.unwrap();
                    echoed += 1;
                }
            }
            (echoed, ws.closed().unwrap())
        });
        let tcp = smol::Async::<std::net::TcpStream>::connect(addr)
            .await
            .unwrap();
        let request =
            ws_smol::ws_proto::ClientHandshake::request(&format!("ws://{addr}/")).unwrap();
        let (mut ws, response) = ws_smol::client_async(request, tcp, Config::default())
            .await
            .unwrap();
        assert_eq!(response.status(), 101);
        let big: Vec<u8> = (0..300_000).map(|i| (i % 251) as u8).collect();
        ws.send(Message::text("héllo")).await.unwrap();
        ws.send(Message::binary(big.clone())).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("héllo"));
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::binary(big));
        let closed = ws.close(CloseCode::NORMAL, "done").await.unwrap();
        assert!(closed.was_clean);
        let (echoed, server_closed) = server.await;
        assert_eq!(echoed, 2);
        assert!(server_closed.was_clean);
        assert_eq!(server_closed.initiator, Initiator::Remote);
    });
}

#[test]
fn client_and_server_initiated_closes_are_clean_and_lose_nothing() {
    smol::block_on(async {
        let (addr, reports) = reporting_server(no_keepalive()).await;
        let (mut ws, _) = ws_smol::connect(&format!("ws://{addr}/")).await.unwrap();
        for i in 0..50 {
            ws.feed(Message::text(format!("m{i}"))).await.unwrap();
        }
        let closed = ws.close(CloseCode::NORMAL, "done").await.unwrap();
        assert!(closed.was_clean);
        assert_eq!(closed.initiator, Initiator::Local);
        let (received, end, server_closed) = reports.recv().await.unwrap();
        assert_eq!(end, Ok(()));
        assert_eq!(received.len(), 51);
        assert_eq!(received[49], Message::text("m49"));
        assert_eq!(server_closed.unwrap().initiator, Initiator::Remote);

        let addr = serve(no_keepalive(), |ws| async move {
            ws.close(CloseCode::GOING_AWAY, "bye").await.unwrap();
        })
        .await;
        let (mut ws, _) = ws_smol::connect(&format!("ws://{addr}/")).await.unwrap();
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::close(CloseCode::GOING_AWAY, "bye")
        );
        assert!(ws.next().await.is_none());
        assert!(ws.closed().unwrap().was_clean);
    });
}

#[test]
fn terminate_is_abnormal_for_the_peer() {
    smol::block_on(async {
        let (addr, reports) = reporting_server(no_keepalive()).await;
        let (ws, _) = ws_smol::connect(&format!("ws://{addr}/")).await.unwrap();
        ws.terminate();
        assert_eq!(ws.closed().unwrap().outcome, Outcome::Terminated);
        let (_, end, closed) = reports.recv().await.unwrap();
        assert!(end.unwrap_err().contains("UnexpectedEof"));
        assert_eq!(closed.unwrap().code, CloseCode::ABNORMAL);
    });
}

async fn raw_client(addr: SocketAddr) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        tcp.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    tcp
}

#[test]
fn keepalive_and_close_timeout_release_silent_peers_on_time() {
    smol::block_on(async {
        let mut config = Config::default();
        config.protocol.keepalive_interval = Some(Duration::from_millis(200));
        config.protocol.keepalive_timeout = Duration::from_millis(200);
        let (addr, reports) = reporting_server(config).await;
        let start = Instant::now();
        let _silent = raw_client(addr).await;
        let (_, end, closed) = reports.recv().await.unwrap();
        let elapsed = start.elapsed();
        assert!(end.unwrap_err().contains("DeadPeer"));
        assert_eq!(closed.unwrap().outcome, Outcome::DeadPeer);
        assert!(
            elapsed >= Duration::from_millis(400) && elapsed < Duration::from_secs(2),
            "{elapsed:?}"
        );

        let mut config = no_keepalive();
        config.protocol.close_timeout = Duration::from_millis(300);
        let (tx, rx) = async_channel::unbounded();
        let addr = serve(config, move |ws| {
            let tx = tx.clone();
            async move {
                let start = Instant::now();
                let closed = ws.close(CloseCode::NORMAL, "").await.unwrap();
                let _ = tx.send((closed, start.elapsed())).await;
            }
        })
        .await;
        let _silent = raw_client(addr).await;
        let (closed, elapsed) = rx.recv().await.unwrap();
        assert_eq!(closed.outcome, Outcome::CloseTimeout);
        assert!(
            elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(2),
            "{elapsed:?}"
        );
    });
}

#[test]
fn split_halves_under_concurrent_load_then_close_from_the_writer() {
    smol::block_on(async {
        let addr = serve(Config::default(), echo).await;
        let (ws, _) = ws_smol::connect(&format!("ws://{addr}/")).await.unwrap();
        let (mut read, mut write) = ws.split();
        const N: usize = 2000;
        let reader = smol::spawn(async move {
            for i in 0..N {
                match read.next().await {
                    Some(Ok(Message::Text(text))) => assert_eq!(text, format!("message {i}")),
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
        let mut read = reader.await;
        let t = Instant::now();
        let closed = write.close(CloseCode::NORMAL, "").await.unwrap();
        assert!(closed.was_clean, "{closed:?} after {:?}", t.elapsed());
        let next = read.next().await;
        assert!(matches!(next, Some(Ok(Message::Close(_)))), "{next:?}");
        assert!(read.next().await.is_none());
        assert!(read.reunite(write).is_ok());
    });
}

#[test]
fn tls_round_trip_with_a_self_signed_certificate() {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    smol::block_on(async {
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
        let acceptor = futures_rustls::TlsAcceptor::from(Arc::new(server_config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        smol::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let tls = acceptor.accept(tcp).await.unwrap();
            let mut ws = ws_smol::accept(tls).await.unwrap();
            while let Some(Ok(message)) = ws.next().await {
                if let Message::Text(_) = message {
                    ws.send(message).await.unwrap();
                }
            }
        })
        .detach();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert_der).unwrap();
        let client_config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let request =
            ws_smol::ws_proto::ClientHandshake::request(&format!("wss://localhost:{port}/"))
                .unwrap();
        let (mut ws, _) =
            ws_smol::connect_with_tls(request, Config::default(), Arc::new(client_config))
                .await
                .unwrap();
        ws.send(Message::text("over TLS")).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("over TLS"));
        assert!(ws.close(CloseCode::NORMAL, "").await.unwrap().was_clean);
    });
}

#[test]
fn simultaneous_close_is_clean() {
    smol::block_on(async {
        let (tx, rx) = async_channel::unbounded();
        let addr = serve(no_keepalive(), move |ws| {
            let tx = tx.clone();
            async move {
                let _ = tx
                    .send(ws.close(CloseCode(4001), "server").await.unwrap())
                    .await;
            }
        })
        .await;
        let (ws, _) = ws_smol::connect(&format!("ws://{addr}/")).await.unwrap();
        let closed = ws.close(CloseCode(4000), "client").await.unwrap();
        let server = rx.recv().await.unwrap();
        assert!(closed.was_clean && server.was_clean);
        for received in [server.received.unwrap().code, closed.received.unwrap().code] {
            assert!([CloseCode(4000), CloseCode(4001)].contains(&received));
        }
    });
}
