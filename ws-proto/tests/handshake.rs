//! The opening handshake: byte-exact requests and responses, every rejection path, limits,
//! leftover bytes, the extension hook, and both machines joined end to end.

mod common;

use common::*;
use std::time::Duration;
use ws_proto::frame::OpCode;
use ws_proto::handshake::{
    accept_key, Accept, ClientAction, ClientHandshake, Extension, ExtensionNegotiator,
    HandshakeError, ServerAction, ServerHandshake,
};
use ws_proto::{Action, Bytes, Config, Event, FixedMask, Instant, State};

const SAMPLE_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const SAMPLE_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

fn request_with(extra: &str) -> String {
    format!(
        "GET /chat?room=7 HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {SAMPLE_KEY}\r\nOrigin: http://example.com\r\n\
         Sec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// What a server handshake did, in a comparable form.
#[derive(Debug, PartialEq)]
enum S {
    Bytes(Vec<u8>),
    Shutdown,
    Close,
    Request(String),
    Failed(String),
}

fn drain_server(hs: &mut ServerHandshake, trace: &mut Vec<S>) {
    let mut buf = Vec::new();
    while let Some(action) = hs.poll(&mut buf) {
        trace.push(match action {
            ServerAction::Transmit(n) => S::Bytes(std::mem::take(&mut buf)).check(n),
            ServerAction::ShutdownWrite => S::Shutdown,
            ServerAction::CloseSocket => S::Close,
            ServerAction::Request(r) => S::Request(format!("{} {}", r.method(), r.uri())),
            ServerAction::Failed(e) => S::Failed(format!("{e:?}")),
            other => panic!("{other:?}"),
        });
    }
}

impl S {
    fn check(self, n: usize) -> S {
        if let S::Bytes(b) = &self {
            assert_eq!(b.len(), n);
        }
        self
    }
}

fn run_server(chunks: &[&[u8]], eof: bool) -> (ServerHandshake, Vec<S>) {
    let mut hs = ServerHandshake::new(Instant::ZERO, Config::default());
    let mut trace = Vec::new();
    for c in chunks {
        hs.handle_read(Instant::ZERO, c);
        drain_server(&mut hs, &mut trace);
    }
    if eof {
        hs.handle_eof(Instant::ZERO);
        drain_server(&mut hs, &mut trace);
    }
    (hs, trace)
}

/// Runs `input` whole, split at every offset and byte by byte; all must agree.
fn server_split_everywhere(input: &[u8]) -> Vec<S> {
    let (_, expected) = run_server(&[input], false);
    for cut in 0..=input.len() {
        let (_, got) = run_server(&[&input[..cut], &input[cut..]], false);
        assert_eq!(got, expected, "cut at {cut}");
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(run_server(&bytes, false).1, expected, "byte by byte");
    expected
}

fn response_text(trace: &[S]) -> String {
    match &trace[0] {
        S::Bytes(b) => String::from_utf8(b.clone()).unwrap(),
        other => panic!("expected a response, got {other:?}"),
    }
}

/// The connection's first output: the 101 response.
fn first_transmit(conn: &mut ws_proto::Connection) -> String {
    let mut buf = Vec::new();
    assert!(matches!(conn.poll(&mut buf), Some(Action::Transmit(_))));
    String::from_utf8(buf).unwrap()
}

#[test]
fn server_accepts_the_rfc_sample_request_byte_exact() {
    let trace = server_split_everywhere(request_with("").as_bytes());
    assert_eq!(trace, vec![S::Request("GET /chat?room=7".into())]);
    let (mut hs, _) = run_server(&[request_with("").as_bytes()], false);
    assert!(hs.is_upgrade_request());
    let mut upgrade = hs.accept(Instant::ZERO, Accept::default()).unwrap();
    assert_eq!(
        first_transmit(&mut upgrade.connection),
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
             sec-websocket-accept: {SAMPLE_ACCEPT}\r\n\r\n"
        )
    );
    assert_eq!(upgrade.connection.state(), State::Open);
    assert_eq!(hs.poll_timeout(), None);
    assert!(matches!(
        hs.accept(Instant::ZERO, Accept::default()),
        Err(HandshakeError::NoPendingRequest)
    ));
}

#[test]
fn the_application_sees_path_query_and_headers() {
    let mut hs = ServerHandshake::new(Instant::ZERO, Config::default());
    hs.handle_read(
        Instant::ZERO,
        request_with("Cookie: session=abc\r\nX-Custom: 1\r\n").as_bytes(),
    );
    let Some(ServerAction::Request(request)) = hs.poll(&mut Vec::new()) else {
        panic!()
    };
    assert_eq!(request.uri().path(), "/chat");
    assert_eq!(request.uri().query(), Some("room=7"));
    assert_eq!(request.headers()["origin"], "http://example.com");
    assert_eq!(request.headers()["cookie"], "session=abc");
    assert_eq!(request.headers()["x-custom"], "1");
}

#[test]
fn header_casing_and_token_lists_are_accepted() {
    let input = format!(
        "GET / HTTP/1.1\r\nhOsT: a\r\nUPGRADE: WebSocket\r\nconnection: keep-alive\r\n\
         Connection: UPGRADE\r\nsec-websocket-key: {SAMPLE_KEY}\r\nSEC-WEBSOCKET-VERSION: 13\r\n\r\n"
    );
    let trace = server_split_everywhere(input.as_bytes());
    assert_eq!(trace, vec![S::Request("GET /".into())]);
}

#[test]
fn bad_upgrade_requests_get_a_proper_http_error() {
    let ok = request_with("");
    let cases: Vec<(String, &str, Option<&str>)> = vec![
        (
            ok.replacen("GET", "POST", 1),
            "405 Method Not Allowed",
            Some("allow: GET"),
        ),
        (
            ok.replacen("HTTP/1.1", "HTTP/1.0", 1),
            "400 Bad Request",
            None,
        ),
        (
            ok.replacen("Host: server.example.com\r\n", "", 1),
            "400 Bad Request",
            None,
        ),
        (
            ok.replacen("Connection: Upgrade", "Connection: keep-alive", 1),
            "400 Bad Request",
            None,
        ),
        (
            ok.replacen("Version: 13", "Version: 8", 1),
            "426 Upgrade Required",
            Some("sec-websocket-version: 13"),
        ),
        (
            ok.replacen("Sec-WebSocket-Version: 13\r\n", "", 1),
            "426 Upgrade Required",
            Some("sec-websocket-version: 13"),
        ),
        (
            ok.replacen(SAMPLE_KEY, "not base64!", 1),
            "400 Bad Request",
            None,
        ),
        (
            ok.replacen(SAMPLE_KEY, "AAAAAAAAAAAAAAAAAAAA", 1),
            "400 Bad Request",
            None,
        ), // 15 bytes
        (
            request_with(&format!("Sec-WebSocket-Key: {SAMPLE_KEY}\r\n")),
            "400 Bad Request",
            None,
        ),
        (
            request_with("Content-Length: 5\r\n"),
            "400 Bad Request",
            None,
        ),
        (
            request_with("Sec-WebSocket-Extensions: a; b=\"x y\"\r\n"),
            "400 Bad Request",
            None,
        ),
        // Obsolete line folding is refused with 400 (RFC 7230 section 3.2.4).
        (
            request_with("X-Folded: a\r\n  b\r\n"),
            "400 Bad Request",
            None,
        ),
        (
            "\x16\x03\x01\x02\x00 TLS hello\r\n\r\n".to_string(),
            "400 Bad Request",
            None,
        ),
    ];
    for (input, status, header) in cases {
        let trace = server_split_everywhere(input.as_bytes());
        let response = response_text(&trace);
        assert!(
            response.starts_with(&format!("HTTP/1.1 {status}\r\n")),
            "{input:?} -> {response}"
        );
        if let Some(h) = header {
            assert!(response.contains(h), "{response} lacks {h}");
        }
        assert!(response.contains("connection: close"));
        assert_eq!(trace[1..3], [S::Shutdown, S::Close]);
        assert!(matches!(trace[3], S::Failed(_)));
        assert_eq!(trace.len(), 4);
    }
}

#[test]
fn oversized_heads_and_too_many_headers_get_431() {
    let big = request_with(&format!("X-Big: {}\r\n", "a".repeat(17 * 1024)));
    let (_, trace) = run_server(&[big.as_bytes()], false);
    assert!(response_text(&trace).starts_with("HTTP/1.1 431 "));
    assert_eq!(trace[3], S::Failed("HeadTooLarge".into()));
    // Never-ending header line without a newline: cut off by size too.
    let (_, trace) = run_server(&[b"GET / HTTP/1.1\r\nX: ", &[b'a'; 20_000]], false);
    assert!(response_text(&trace).starts_with("HTTP/1.1 431 "));
    let many: String = (0..101).map(|i| format!("X-{i}: v\r\n")).collect();
    let (_, trace) = run_server(&[request_with(&many).as_bytes()], false);
    assert!(response_text(&trace).starts_with("HTTP/1.1 431 "));
    assert_eq!(trace[3], S::Failed("TooManyHeaders".into()));
}

#[test]
fn slowloris_is_cut_off_at_the_handshake_timeout_with_408() {
    let mut config = Config::default();
    config.handshake_timeout = Duration::from_secs(10);
    let mut hs = ServerHandshake::new(Instant::ZERO, config);
    let request = request_with("");
    let mut trace = Vec::new();
    for (second, byte) in request.as_bytes().iter().enumerate() {
        let now = secs(second as u64);
        if hs.poll_timeout().is_some_and(|t| now >= t) {
            hs.handle_timeout(now);
            drain_server(&mut hs, &mut trace);
            break;
        }
        hs.handle_read(now, std::slice::from_ref(byte));
        drain_server(&mut hs, &mut trace);
    }
    assert!(response_text(&trace).starts_with("HTTP/1.1 408 Request Timeout\r\n"));
    assert_eq!(
        trace[1..],
        [S::Shutdown, S::Close, S::Failed("Timeout".into())]
    );
}

#[test]
fn eof_before_the_head_is_complete_fails_without_a_response() {
    let (_, trace) = run_server(&[b"GET / HTTP/1.1\r\nHost"], true);
    assert_eq!(trace, vec![S::Close, S::Failed("UnexpectedEof".into())]);
}

#[test]
fn bytes_after_the_request_reach_the_connection() {
    let input = [
        request_with("").into_bytes(),
        masked(OpCode::Text, true, b"early"),
    ]
    .concat();
    for cut in [0, 50, input.len() - 3, input.len()] {
        let (mut hs, trace) = run_server(&[&input[..cut], &input[cut..]], false);
        assert_eq!(trace, vec![S::Request("GET /chat?room=7".into())]);
        let mut conn = hs.accept(secs(1), Accept::default()).unwrap().connection;
        let trace = drain(&mut conn);
        assert!(matches!(trace[0], Out::Bytes(_)));
        assert_eq!(trace[1], Out::Event(Event::Text("early".into())));
    }
}

#[test]
fn plain_http_requests_go_to_the_application() {
    let (mut hs, trace) = run_server(&[b"GET /stats HTTP/1.1\r\nHost: a\r\n\r\n"], false);
    assert_eq!(trace, vec![S::Request("GET /stats".into())]);
    assert!(!hs.is_upgrade_request());
    let response = http::Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(Bytes::from_static(b"{\"open\":0}"))
        .unwrap();
    hs.reject(response).unwrap();
    let mut trace = Vec::new();
    drain_server(&mut hs, &mut trace);
    assert_eq!(
        response_text(&trace),
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 10\r\n\
         connection: close\r\n\r\n{\"open\":0}"
    );
    // Accepting a plain request answers 426 instead.
    let (mut hs, _) = run_server(&[b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"], false);
    assert!(hs.accept(Instant::ZERO, Accept::default()).is_err());
    let mut trace = Vec::new();
    drain_server(&mut hs, &mut trace);
    assert!(response_text(&trace).starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
}

#[test]
fn the_application_can_reject_with_any_status() {
    let (mut hs, _) = run_server(&[request_with("").as_bytes()], false);
    hs.reject(
        http::Response::builder()
            .status(403)
            .body(Bytes::from_static(b"no"))
            .unwrap(),
    )
    .unwrap();
    let mut trace = Vec::new();
    drain_server(&mut hs, &mut trace);
    assert_eq!(
        response_text(&trace),
        "HTTP/1.1 403 Forbidden\r\ncontent-length: 2\r\nconnection: close\r\n\r\nno"
    );
    assert_eq!(trace[1..], [S::Shutdown, S::Close]);
}

#[test]
fn subprotocols_and_extra_headers() {
    let (mut hs, _) = run_server(
        &[request_with("Sec-WebSocket-Protocol: chat, superchat\r\n").as_bytes()],
        false,
    );
    assert_eq!(hs.offered_subprotocols(), ["chat", "superchat"]);
    let bad = Accept {
        subprotocol: Some("other".into()),
        ..Accept::default()
    };
    assert!(matches!(
        hs.accept(Instant::ZERO, bad),
        Err(HandshakeError::SubprotocolNotOffered(_))
    ));
    let mut accept = Accept {
        subprotocol: Some("superchat".into()),
        ..Accept::default()
    };
    accept.headers.insert("set-cookie", "id=1".parse().unwrap());
    let mut upgrade = hs.accept(Instant::ZERO, accept).unwrap();
    assert_eq!(upgrade.subprotocol.as_deref(), Some("superchat"));
    let response = first_transmit(&mut upgrade.connection);
    assert!(response.contains("sec-websocket-protocol: superchat\r\n"));
    assert!(response.contains("set-cookie: id=1\r\n"));
}

/// A test extension: accepts the first offer, echoing its parameters; refuses offers with a
/// `bad` parameter; on the client, refuses a response with `bad`.
struct Echo;

impl ExtensionNegotiator for Echo {
    fn name(&self) -> &str {
        "x-echo"
    }
    fn client_offers(&self) -> Vec<Extension> {
        vec![Extension::new("x-echo").with_param("level", Some("3"))]
    }
    fn client_accept(&mut self, response: &Extension) -> Result<(), String> {
        match response.param("bad") {
            Some(_) => Err("bad parameter".into()),
            None => Ok(()),
        }
    }
    fn server_accept(&mut self, offers: &[Extension]) -> Result<Option<Extension>, String> {
        if offers[0].param("bad").is_some() {
            return Err("bad parameter".into());
        }
        Ok(Some(offers[0].clone()))
    }
}

#[test]
fn server_extension_hook_negotiates_and_rejects() {
    let mut hs = ServerHandshake::new(Instant::ZERO, Config::default()).with_extension(Echo);
    hs.handle_read(
        Instant::ZERO,
        request_with("Sec-WebSocket-Extensions: permessage-deflate, x-echo; level=1\r\n")
            .as_bytes(),
    );
    hs.poll(&mut Vec::new());
    let mut upgrade = hs.accept(Instant::ZERO, Accept::default()).unwrap();
    assert_eq!(
        upgrade.extensions,
        vec![Extension::new("x-echo").with_param("level", Some("1"))]
    );
    assert!(first_transmit(&mut upgrade.connection)
        .contains("sec-websocket-extensions: x-echo; level=1\r\n"));

    // Without a negotiator, offers are declined silently.
    let (mut hs, _) = run_server(
        &[request_with("Sec-WebSocket-Extensions: x-echo\r\n").as_bytes()],
        false,
    );
    let mut upgrade = hs.accept(Instant::ZERO, Accept::default()).unwrap();
    assert!(upgrade.extensions.is_empty());
    assert!(!first_transmit(&mut upgrade.connection).contains("extensions"));

    // A negotiator's refusal fails the handshake with 400.
    let mut hs = ServerHandshake::new(Instant::ZERO, Config::default()).with_extension(Echo);
    hs.handle_read(
        Instant::ZERO,
        request_with("Sec-WebSocket-Extensions: x-echo; bad\r\n").as_bytes(),
    );
    hs.poll(&mut Vec::new());
    assert!(matches!(
        hs.accept(Instant::ZERO, Accept::default()),
        Err(HandshakeError::Extension(_))
    ));
    let mut trace = Vec::new();
    drain_server(&mut hs, &mut trace);
    assert!(response_text(&trace).starts_with("HTTP/1.1 400 "));
}

// ----- client -----

fn sample_client(request: http::Request<()>) -> ClientHandshake {
    ClientHandshake::new(
        Instant::ZERO,
        request,
        *b"the sample nonce",
        Config::default(),
        FixedMask(MASK),
    )
    .unwrap()
}

fn client_request_bytes(hs: &mut ClientHandshake) -> String {
    let mut buf = Vec::new();
    assert!(matches!(hs.poll(&mut buf), Some(ClientAction::Transmit(_))));
    String::from_utf8(buf).unwrap()
}

fn response_101(extra: &str) -> String {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {SAMPLE_ACCEPT}\r\n{extra}\r\n"
    )
}

/// Feeds chunks to a fresh sample client, switching to the connection once it opens (as a
/// driver does); returns the outcome in a comparable form.
fn run_client(chunks: &[&[u8]], eof: bool) -> Vec<String> {
    let mut hs = sample_client(ClientHandshake::request("ws://server.example.com/chat").unwrap());
    client_request_bytes(&mut hs);
    let mut out = Vec::new();
    let mut opened: Option<(Option<String>, ws_proto::Connection)> = None;
    let record = |hs: &mut ClientHandshake,
                  out: &mut Vec<String>,
                  opened: &mut Option<(Option<String>, ws_proto::Connection)>| {
        while let Some(action) = hs.poll(&mut Vec::new()) {
            match action {
                ClientAction::Open(upgrade) => {
                    *opened = Some((upgrade.subprotocol, upgrade.connection));
                }
                ClientAction::Failed(HandshakeError::Rejected(response)) => out.push(format!(
                    "rejected {} {:?}",
                    response.status(),
                    response.body()
                )),
                other => out.push(format!("{other:?}")),
            }
        }
    };
    let mut events = Vec::new();
    for c in chunks {
        match &mut opened {
            Some((_, conn)) => conn.handle_read(Instant::ZERO, c),
            None => hs.handle_read(Instant::ZERO, c),
        }
        record(&mut hs, &mut out, &mut opened);
        if let Some((_, conn)) = &mut opened {
            events.extend(drain(conn));
        }
    }
    if eof && opened.is_none() {
        hs.handle_eof(Instant::ZERO);
        record(&mut hs, &mut out, &mut opened);
    }
    if let Some((subprotocol, _)) = opened {
        out.push(format!("open {subprotocol:?} {events:?}"));
    }
    out
}

fn client_split_everywhere(input: &[u8], eof: bool) -> Vec<String> {
    let expected = run_client(&[input], eof);
    for cut in 0..=input.len() {
        assert_eq!(
            run_client(&[&input[..cut], &input[cut..]], eof),
            expected,
            "cut {cut}"
        );
    }
    expected
}

#[test]
fn client_request_is_byte_exact() {
    let mut request = ClientHandshake::request("ws://server.example.com:8080/chat?room=7").unwrap();
    request
        .headers_mut()
        .insert("origin", "http://example.com".parse().unwrap());
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "chat, superchat".parse().unwrap());
    let mut hs = sample_client(request);
    assert_eq!(
        client_request_bytes(&mut hs),
        format!(
            "GET /chat?room=7 HTTP/1.1\r\nhost: server.example.com:8080\r\nupgrade: websocket\r\n\
             connection: Upgrade\r\nsec-websocket-key: {SAMPLE_KEY}\r\nsec-websocket-version: 13\r\n\
             origin: http://example.com\r\nsec-websocket-protocol: chat, superchat\r\n\r\n"
        )
    );
    assert_eq!(hs.poll_timeout(), Some(secs(10)));
}

#[test]
fn client_refuses_bad_uris() {
    for uri in ["http://a/", "ws:///path", "/relative"] {
        let request = ClientHandshake::request(uri);
        let result = request.and_then(|r| {
            ClientHandshake::new(
                Instant::ZERO,
                r,
                [0; 16],
                Config::default(),
                FixedMask(MASK),
            )
        });
        assert!(
            matches!(result, Err(HandshakeError::InvalidUri(_))),
            "{uri}"
        );
    }
    let mut hs = sample_client(ClientHandshake::request("wss://[::1]:9001").unwrap());
    assert!(client_request_bytes(&mut hs).starts_with("GET / HTTP/1.1\r\nhost: [::1]:9001\r\n"));
}

#[test]
fn client_opens_on_a_valid_101_and_feeds_the_frames_that_follow() {
    let input = [
        response_101("").into_bytes(),
        unmasked(OpCode::Text, true, b"welcome"),
    ]
    .concat();
    let outcome = client_split_everywhere(&input, false);
    assert_eq!(outcome.len(), 1);
    assert!(outcome[0].starts_with("open None"), "{outcome:?}");
    assert!(outcome[0].contains("Text(\"welcome\")"), "{outcome:?}");
}

#[test]
fn client_validates_the_101_response() {
    let cases = [
        response_101("").replace(SAMPLE_ACCEPT, &accept_key(b"other")),
        response_101("").replace("Upgrade: websocket\r\n", ""),
        response_101("").replace("Connection: Upgrade", "Connection: close"),
        response_101("").replace("HTTP/1.1", "HTTP/1.0"),
        response_101("Sec-WebSocket-Protocol: chat\r\n"),
        response_101("Sec-WebSocket-Extensions: permessage-deflate\r\n"),
        "HTTP/1.1 101 Switching Protocols\r\nbad header\r\n\r\n".to_string(),
    ];
    for input in cases {
        let outcome = client_split_everywhere(input.as_bytes(), false);
        assert_eq!(outcome[0], "CloseSocket", "{input}");
        assert!(outcome[1].starts_with("Failed("), "{input} -> {outcome:?}");
    }
}

#[test]
fn client_reports_refusals_with_status_and_bounded_body() {
    let outcome = client_split_everywhere(
        b"HTTP/1.1 403 Forbidden\r\nContent-Length: 6\r\n\r\ndenied",
        false,
    );
    assert_eq!(
        outcome,
        ["CloseSocket", "rejected 403 Forbidden b\"denied\""]
    );
    // Without Content-Length the body runs to EOF.
    let outcome = client_split_everywhere(b"HTTP/1.1 500 Internal Server Error\r\n\r\noops", true);
    assert_eq!(
        outcome,
        [
            "CloseSocket",
            "rejected 500 Internal Server Error b\"oops\""
        ]
    );
    // A huge body is cut at max_handshake_size.
    let body = vec![b'x'; 40_000];
    let input = [
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 40000\r\n\r\n".to_vec(),
        body,
    ]
    .concat();
    let out = run_client(&[&input], false);
    assert_eq!(out[0], "CloseSocket");
    assert_eq!(
        out[1].len(),
        "rejected 404 Not Found b\"\"".len() + 16 * 1024
    );
}

#[test]
fn client_handshake_timeout_and_eof() {
    let mut hs = sample_client(ClientHandshake::request("ws://a/").unwrap());
    client_request_bytes(&mut hs);
    hs.handle_read(secs(1), b"HTTP/1.1 101 Switching");
    hs.handle_timeout(secs(9));
    assert!(hs.poll(&mut Vec::new()).is_none());
    hs.handle_timeout(secs(10));
    assert!(matches!(
        hs.poll(&mut Vec::new()),
        Some(ClientAction::CloseSocket)
    ));
    assert!(matches!(
        hs.poll(&mut Vec::new()),
        Some(ClientAction::Failed(HandshakeError::Timeout))
    ));
    assert_eq!(
        run_client(&[b"HTTP/1.1 10"], true)[1],
        "Failed(UnexpectedEof)"
    );
}

#[test]
fn client_extension_hook_offers_and_checks() {
    let request = ClientHandshake::request("ws://a/").unwrap();
    let mut hs = ClientHandshake::with_extensions(
        Instant::ZERO,
        request,
        *b"the sample nonce",
        Config::default(),
        FixedMask(MASK),
        vec![Box::new(Echo)],
    )
    .unwrap();
    assert!(client_request_bytes(&mut hs).contains("sec-websocket-extensions: x-echo; level=3\r\n"));
    hs.handle_read(
        Instant::ZERO,
        response_101("Sec-WebSocket-Extensions: x-echo; level=3\r\n").as_bytes(),
    );
    let Some(ClientAction::Open(upgrade)) = hs.poll(&mut Vec::new()) else {
        panic!()
    };
    assert_eq!(
        upgrade.extensions,
        vec![Extension::new("x-echo").with_param("level", Some("3"))]
    );
}

#[test]
fn client_and_server_handshakes_end_to_end_then_exchange_messages() {
    let mut request = ClientHandshake::request("ws://localhost:9001/echo").unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "v1.chat".parse().unwrap());
    let mut client = ClientHandshake::new(
        Instant::ZERO,
        request,
        [7; 16],
        Config::default(),
        FixedMask(MASK),
    )
    .unwrap();
    let mut server = ServerHandshake::new(Instant::ZERO, Config::default());
    let mut wire = Vec::new();
    while let Some(ClientAction::Transmit(_)) = client.poll(&mut wire) {}
    server.handle_read(Instant::ZERO, &wire);
    let Some(ServerAction::Request(_)) = server.poll(&mut Vec::new()) else {
        panic!()
    };
    let accept = Accept {
        subprotocol: Some("v1.chat".into()),
        ..Accept::default()
    };
    let mut server_conn = server.accept(Instant::ZERO, accept).unwrap().connection;
    server_conn.send_text("hi from server").unwrap();
    let mut wire = Vec::new();
    while server_conn.poll(&mut wire).is_some() {}
    client.handle_read(Instant::ZERO, &wire);
    let Some(ClientAction::Open(upgrade)) = client.poll(&mut Vec::new()) else {
        panic!()
    };
    assert_eq!(upgrade.subprotocol.as_deref(), Some("v1.chat"));
    let mut client_conn = upgrade.connection;
    assert_eq!(
        drain(&mut client_conn),
        vec![Out::Event(Event::Text("hi from server".into()))]
    );
}

#[test]
fn client_request_line_for_a_query_without_a_path_and_uri_edge_cases() {
    let mut hs = sample_client(ClientHandshake::request("ws://a?x=1").unwrap());
    assert!(client_request_bytes(&mut hs).starts_with("GET /?x=1 HTTP/1.1\r\n"));
    let mut hs = sample_client(ClientHandshake::request("WS://a/p").unwrap());
    assert!(client_request_bytes(&mut hs).starts_with("GET /p HTTP/1.1\r\n"));
    assert!(matches!(
        ClientHandshake::request("ws://a/#frag"),
        Err(HandshakeError::InvalidUri(_))
    ));
}

#[test]
fn accept_headers_cannot_override_the_handshake_and_may_pick_the_subprotocol() {
    let (mut hs, _) = run_server(
        &[request_with("Sec-WebSocket-Protocol: chat\r\n").as_bytes()],
        false,
    );
    let mut accept = Accept::default();
    accept
        .headers
        .insert("sec-websocket-protocol", "other".parse().unwrap());
    assert!(matches!(
        hs.accept(Instant::ZERO, accept),
        Err(HandshakeError::SubprotocolNotOffered(_))
    ));
    let mut accept = Accept::default();
    accept
        .headers
        .insert("sec-websocket-protocol", "chat".parse().unwrap());
    accept
        .headers
        .insert("connection", "close".parse().unwrap());
    let mut upgrade = hs.accept(Instant::ZERO, accept).unwrap();
    assert_eq!(upgrade.subprotocol.as_deref(), Some("chat"));
    let response = first_transmit(&mut upgrade.connection);
    assert_eq!(response.matches("connection:").count(), 1, "{response}");
    assert_eq!(response.matches("sec-websocket-protocol: chat").count(), 1);
}

#[test]
fn client_skips_interim_responses_and_knows_when_a_refusal_body_ends() {
    let input = [
        "HTTP/1.1 100 Continue\r\n\r\n".to_string(),
        response_101(""),
    ]
    .concat();
    let outcome = client_split_everywhere(input.as_bytes(), false);
    assert!(outcome[0].starts_with("open"), "{outcome:?}");
    let outcome = client_split_everywhere(b"HTTP/1.1 204 No Content\r\n\r\n", false);
    assert_eq!(outcome, ["CloseSocket", "rejected 204 No Content b\"\""]);
    let outcome = client_split_everywhere(
        b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1\r\n!\r\n0\r\n\r\n",
        false,
    );
    assert_eq!(
        outcome,
        ["CloseSocket", "rejected 404 Not Found b\"hello!\""]
    );
}

#[test]
fn empty_lines_before_the_request_are_ignored_but_count_toward_the_limit() {
    let input = format!("\r\n\r\n{}", request_with(""));
    let trace = server_split_everywhere(input.as_bytes());
    assert_eq!(trace, vec![S::Request("GET /chat?room=7".into())]);
    let newlines = vec![b'\n'; 20_000];
    let chunks: Vec<&[u8]> = newlines.chunks(1).collect();
    let (_, trace) = run_server(&chunks, false);
    assert!(response_text(&trace).starts_with("HTTP/1.1 431 "));
}

#[test]
fn too_much_pipelined_data_is_refused_before_the_application_is_asked() {
    let input = [
        request_with("").into_bytes(),
        masked(OpCode::Binary, true, &[0; 20_000]),
    ]
    .concat();
    let (_, trace) = run_server(&[&input], false);
    assert!(response_text(&trace).starts_with("HTTP/1.1 400 "));
    assert!(!trace.iter().any(|s| matches!(s, S::Request(_))));
}
