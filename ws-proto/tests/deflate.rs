//! permessage-deflate through the connection and the handshake: every parameter combination end
//! to end, the wire format, compressed input split everywhere, bombs and bad compressed frames.

mod common;

use common::*;
use ws_proto::deflate::{client_accept, client_offer, server_negotiate, DeflateConfig};
use ws_proto::frame::OpCode;
use ws_proto::{
    Action, Bytes, ClientAction, ClientHandshake, CloseCode, Compression, Config, Event, FixedMask,
    Instant, MessageKind, Outcome, ProtocolError, Role, ServerAction, ServerHandshake,
};

/// Compressible but not trivially: words and numbers in a pseudo-random order.
fn sample_text(len: usize, seed: u32) -> String {
    const WORDS: [&str; 8] = [
        "alpha", "bravo", "charlie", "delta", "echo", "fox", "golf", "hotel",
    ];
    let mut s = seed;
    let mut out = String::new();
    while out.len() < len {
        s = s.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        out.push_str(WORDS[(s >> 16) as usize % 8]);
        out.push_str(&((s >> 8) % 1000).to_string());
        out.push(' ');
    }
    out.truncate(len);
    out
}

fn deflate_config(deflate: DeflateConfig) -> Config {
    let mut config = no_keepalive();
    config.deflate = Some(deflate);
    config
}

/// A pair of connections with permessage-deflate negotiated from the client's `offer` settings
/// against the server's `accept` settings, through the real negotiation functions.
fn negotiated_pair(offer: DeflateConfig, accept: DeflateConfig) -> Pair {
    let (response, server_params) = server_negotiate(&accept, &[client_offer(&offer)])
        .unwrap()
        .expect("offer declined");
    let client_params = client_accept(&offer, &response).unwrap();
    assert_eq!(client_params, server_params, "{response}");
    let (client_config, server_config) = (deflate_config(offer), deflate_config(accept));
    let mut p = Pair::new(client_config.clone(), server_config.clone());
    p.client.conn = new_conn(Role::Client, client_config).with_deflate(client_params);
    p.server.conn = new_conn(Role::Server, server_config).with_deflate(server_params);
    p
}

#[test]
fn every_parameter_combination_round_trips_both_ways() {
    let messages: Vec<String> = (0..4)
        .map(|i| sample_text(3000 + i * 997, i as u32))
        .collect();
    let binary = Bytes::from(sample_text(70_000, 99).into_bytes());
    for server_no_context_takeover in [false, true] {
        for client_no_context_takeover in [false, true] {
            for server_bits in [8, 9, 12, 15] {
                for client_bits in [8, 10, 15] {
                    let mut offer = DeflateConfig::default();
                    offer.server_no_context_takeover = server_no_context_takeover;
                    offer.client_no_context_takeover = client_no_context_takeover;
                    offer.server_max_window_bits = server_bits;
                    offer.client_max_window_bits = client_bits;
                    let mut p = negotiated_pair(offer.clone(), DeflateConfig::default());
                    p.client.read_chunk = 1000;
                    for end in [&mut p.client, &mut p.server] {
                        for m in &messages {
                            end.conn.send_text(m).unwrap();
                        }
                        end.conn.send_binary(&binary).unwrap();
                        end.conn.send_text("short").unwrap();
                        end.conn.send_binary_with(b"", Compression::Always).unwrap();
                        end.conn
                            .send_fragment(MessageKind::Text, messages[0].as_bytes(), false)
                            .unwrap();
                        end.conn
                            .send_fragment(MessageKind::Text, messages[1].as_bytes(), true)
                            .unwrap();
                    }
                    p.client.conn.close(p.now, CloseCode::NORMAL, "").unwrap();
                    p.run_to_end();
                    let mut expected: Vec<Event> = messages
                        .iter()
                        .map(|m| Event::Text(m.clone().into()))
                        .collect();
                    expected.push(Event::Binary(binary.clone()));
                    expected.push(Event::Text("short".into()));
                    expected.push(Event::Binary(Bytes::new()));
                    expected.push(Event::Text(
                        format!("{}{}", messages[0], messages[1]).into(),
                    ));
                    for end in [&p.client, &p.server] {
                        let events = end.events();
                        let brief = |e: &Event| match e {
                            Event::Text(t) => format!("text {}", t.len()),
                            Event::Binary(b) => format!("binary {}", b.len()),
                            other => format!("{other:?}"),
                        };
                        let got: Vec<String> = events.iter().map(brief).collect();
                        let want: Vec<String> = expected.iter().map(brief).collect();
                        assert_eq!(got[..want.len()], want[..], "{offer:?}");
                        assert!(events[..expected.len()] == expected[..], "{offer:?}");
                        assert!(end.closed().was_clean, "{offer:?}");
                    }
                }
            }
        }
    }
}

fn first_byte_of_next_frame(conn: &mut ws_proto::Connection) -> u8 {
    let mut out = Vec::new();
    assert!(matches!(conn.poll(&mut out), Some(Action::Transmit(_))));
    out[0]
}

#[test]
fn rsv1_marks_compressed_messages_on_their_first_frame_only() {
    let mut p = negotiated_pair(DeflateConfig::default(), DeflateConfig::default());
    let conn = &mut p.server.conn;
    let long = sample_text(2000, 1);
    conn.send_text(&long).unwrap();
    assert_eq!(first_byte_of_next_frame(conn), 0xc1, "FIN + RSV1 + text");
    conn.send_text(&long[..1023]).unwrap();
    assert_eq!(first_byte_of_next_frame(conn), 0x81, "under the threshold");
    conn.send_binary_with(long.as_bytes(), Compression::Never)
        .unwrap();
    assert_eq!(first_byte_of_next_frame(conn), 0x82, "opted out");
    conn.send_binary_with(b"x", Compression::Always).unwrap();
    assert_eq!(first_byte_of_next_frame(conn), 0xc2);
    conn.send_fragment(MessageKind::Text, long.as_bytes(), false)
        .unwrap();
    assert_eq!(first_byte_of_next_frame(conn), 0x41, "RSV1 + text, no FIN");
    conn.send_ping(b"p").unwrap();
    assert_eq!(
        first_byte_of_next_frame(conn),
        0x89,
        "control frames never compressed"
    );
    conn.send_fragment(MessageKind::Text, b"end", true).unwrap();
    assert_eq!(
        first_byte_of_next_frame(conn),
        0x80,
        "continuation without RSV1"
    );
}

/// What a compressing client sends: its frames for `messages`, then a Close.
fn compressed_client_input(messages: &[String]) -> Vec<u8> {
    let mut client = new_conn(Role::Client, deflate_config(DeflateConfig::default()))
        .with_deflate(Default::default());
    for m in messages {
        client.send_text(m).unwrap();
    }
    client.close(Instant::ZERO, CloseCode::NORMAL, "").unwrap();
    let mut input = Vec::new();
    while let Some(action) = client.poll(&mut input) {
        let _ = action;
    }
    input
}

fn deflate_server() -> ws_proto::Connection {
    new_conn(Role::Server, deflate_config(DeflateConfig::default()))
        .with_deflate(Default::default())
}

#[test]
fn compressed_input_split_at_every_offset_gives_the_same_result() {
    // Context takeover: later messages refer back into earlier ones.
    let messages: Vec<String> = (0..3).map(|i| sample_text(1500, i)).collect();
    let input = compressed_client_input(&messages);
    assert!(input.len() < 3 * 1500 / 2, "{}", input.len());
    let trace = feed_split_everywhere(deflate_server, &input, false);
    let events = events_of(&trace);
    for (event, m) in events.iter().zip(&messages) {
        assert_eq!(*event, Event::Text(m.clone().into()));
    }
    assert!(closed_of(&trace).was_clean);
}

/// A compressed message frame from a client: `rsv1` on a frame with `opcode`.
fn client_frame(fin: bool, rsv1: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    ws_proto::frame::encode_frame(
        &mut out,
        fin,
        if rsv1 { 0b100 } else { 0 },
        opcode,
        Some(MASK),
        payload,
    );
    out
}

fn deflated(data: &[u8]) -> Vec<u8> {
    let mut c = new_conn(Role::Server, deflate_config(DeflateConfig::default()))
        .with_deflate(Default::default());
    c.send_binary_with(data, Compression::Always).unwrap();
    let mut out = Vec::new();
    c.poll(&mut out);
    // Strip the server frame header (2, 4 or 10 bytes).
    let skip = match out[1] & 0x7f {
        126 => 4,
        127 => 10,
        _ => 2,
    };
    out[skip..].to_vec()
}

#[test]
fn a_decompression_bomb_stops_at_the_limit_without_inflating_it_all() {
    let payload = deflated(&vec![0u8; 4 << 20]);
    assert!(payload.len() <= 5 * 1024, "{}", payload.len());
    let limit = 512 * 1024;
    let mut config = deflate_config(DeflateConfig::default());
    config.max_message_size = limit;
    let mut server = new_conn(Role::Server, config).with_deflate(Default::default());
    let input = client_frame(true, true, OpCode::Binary, &payload);
    let mut trace = Vec::new();
    let mut peak = 0;
    for chunk in input.chunks(64) {
        server.handle_read(Instant::ZERO, chunk);
        peak = peak.max(server.receive_allocated());
        drain_into(&mut server, &mut trace);
    }
    assert!(
        peak <= limit + 64,
        "held {peak} bytes for a {limit}-byte limit"
    );
    let closed = closed_of(&trace);
    assert!(matches!(
        closed.outcome,
        Outcome::ProtocolError(ProtocolError::MessageTooLarge { max, .. }) if max == limit
    ));
    assert_eq!(closed.sent.unwrap().code, CloseCode::MESSAGE_TOO_BIG);
}

fn closed_with(input: &[u8]) -> (Outcome, CloseCode) {
    let trace = feed_split_everywhere(deflate_server, input, false);
    let closed = closed_of(&trace);
    (closed.outcome, closed.sent.unwrap().code)
}

#[test]
fn bad_compressed_frames_fail_with_the_right_code() {
    let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    // Control frames are never compressed.
    let input = client_frame(true, true, OpCode::Ping, b"");
    assert_eq!(
        closed_with(&input),
        (
            Outcome::ProtocolError(ProtocolError::ReservedBitsSet(0b100)),
            CloseCode::PROTOCOL_ERROR
        )
    );
    // RSV1 on a continuation frame.
    let mut input = client_frame(false, true, OpCode::Text, &hello[..3]);
    input.extend(client_frame(true, true, OpCode::Continuation, &hello[3..]));
    assert_eq!(closed_with(&input).1, CloseCode::PROTOCOL_ERROR);
    // Not a deflate stream.
    let input = client_frame(true, true, OpCode::Binary, &[0xff; 16]);
    assert_eq!(
        closed_with(&input),
        (
            Outcome::ProtocolError(ProtocolError::InvalidCompressedData),
            CloseCode::INVALID_PAYLOAD
        )
    );
    // Valid deflate, invalid UTF-8 once inflated.
    let input = client_frame(true, true, OpCode::Text, &deflated(b"ok \xff\xfe not text"));
    assert_eq!(
        closed_with(&input),
        (
            Outcome::ProtocolError(ProtocolError::InvalidUtf8),
            CloseCode::INVALID_PAYLOAD
        )
    );
    // RSV1 when the extension was not negotiated.
    let mut plain = new_conn(Role::Server, no_keepalive());
    plain.handle_read(
        Instant::ZERO,
        &client_frame(true, true, OpCode::Text, &hello),
    );
    assert_eq!(
        closed_of(&drain(&mut plain)).sent.unwrap().code,
        CloseCode::PROTOCOL_ERROR
    );
    // The RFC's compressed "Hello" in two fragments is fine.
    let mut input = client_frame(false, true, OpCode::Text, &hello[..3]);
    input.extend(client_frame(true, false, OpCode::Continuation, &hello[3..]));
    let events = events_of(&feed_split_everywhere(deflate_server, &input, false));
    assert_eq!(events, [Event::Text("Hello".into())]);
}

#[test]
fn fragment_streaming_inflates_frame_by_frame() {
    let text = sample_text(5000, 3);
    let payload = deflated(text.as_bytes());
    let (a, b) = payload.split_at(payload.len() / 2);
    let mut input = client_frame(false, true, OpCode::Text, a);
    input.extend(client_frame(true, false, OpCode::Continuation, b));
    let make = || {
        let mut config = deflate_config(DeflateConfig::default());
        config.stream_fragments = true;
        new_conn(Role::Server, config).with_deflate(Default::default())
    };
    let events = events_of(&feed_split_everywhere(make, &input, false));
    let mut got = Vec::new();
    for event in events {
        let Event::Fragment(f) = event else {
            panic!("{event:?}")
        };
        got.extend_from_slice(&f.data);
    }
    assert_eq!(got, text.as_bytes());
}

/// Runs a client and a server handshake against each other; returns both connections.
fn handshake(
    client: Config,
    server: Config,
) -> Result<(ws_proto::Connection, ws_proto::Connection, String), String> {
    let now = Instant::ZERO;
    let request = ClientHandshake::request("ws://example.com/").unwrap();
    let mut c = ClientHandshake::new(now, request, [7; 16], client, FixedMask(MASK)).unwrap();
    let mut s = ServerHandshake::new(now, server);
    let mut buf = Vec::new();
    while let Some(action) = c.poll(&mut buf) {
        assert!(matches!(action, ClientAction::Transmit(_)));
    }
    s.handle_read(now, &buf);
    let mut out = Vec::new();
    let Some(ServerAction::Request(_)) = s.poll(&mut out) else {
        panic!("no request")
    };
    let upgrade = s
        .accept(now, Default::default())
        .map_err(|e| e.to_string())?;
    let mut server_conn = upgrade.connection;
    let mut response = Vec::new();
    server_conn.poll(&mut response);
    c.handle_read(now, &response);
    let mut client_conn = None;
    while let Some(action) = c.poll(&mut buf) {
        match action {
            ClientAction::Open(upgrade) => client_conn = Some(upgrade.connection),
            ClientAction::Failed(e) => return Err(e.to_string()),
            _ => {}
        }
    }
    let text = String::from_utf8_lossy(&response).into_owned();
    Ok((client_conn.expect("client did not open"), server_conn, text))
}

#[test]
fn handshakes_negotiate_it_when_both_sides_want_it() {
    let on = deflate_config(DeflateConfig::default());
    let (mut client, mut server, response) = handshake(on.clone(), on.clone()).unwrap();
    assert!(
        response.contains("sec-websocket-extensions: permessage-deflate\r\n"),
        "{response}"
    );
    assert!(client.is_compressing() && server.is_compressing());
    let text = sample_text(4000, 5);
    client.send_text(&text).unwrap();
    let mut wire = Vec::new();
    while client.poll(&mut wire).is_some() {}
    assert!(wire.len() < 2000, "{}", wire.len());
    server.handle_read(Instant::ZERO, &wire);
    assert_eq!(events_of(&drain(&mut server)), [Event::Text(text.into())]);

    // Either side without it: no extension, nothing compressed.
    let off = no_keepalive();
    for (c, s) in [(on.clone(), off.clone()), (off.clone(), on.clone())] {
        let (client, server, response) = handshake(c, s).unwrap();
        assert!(!response.contains("permessage-deflate"), "{response}");
        assert!(!client.is_compressing() && !server.is_compressing());
    }

    // A server that needs a small client window declines a client that cannot promise one,
    // and a client refuses a server that ignores its request.
    let mut strict = DeflateConfig::default();
    strict.client_max_window_bits = 10;
    let strict_server = deflate_config(strict);
    let (client, _, response) = handshake(on.clone(), strict_server).unwrap();
    assert!(response.contains("client_max_window_bits=10"), "{response}");
    assert!(client.is_compressing());
}
