//! The receive and send paths: every frame form, reassembly, limits, UTF-8, and every framing
//! violation, each input re-fed split at every offset and byte by byte.

mod common;

use common::*;
use ws_proto::frame::{FrameHeader, OpCode};
use ws_proto::{
    Bytes, CloseCode, CommandError, Compression, Config, Event, Fragment, Instant, MessageKind,
    Outcome, ProtocolError, Role, State,
};

fn server() -> ws_proto::Connection {
    new_conn(Role::Server, no_keepalive())
}

fn client() -> ws_proto::Connection {
    new_conn(Role::Client, no_keepalive())
}

fn with_limits(role: Role, max_frame: usize, max_message: usize) -> ws_proto::Connection {
    let mut c = no_keepalive();
    c.max_frame_size = max_frame;
    c.max_message_size = max_message;
    new_conn(role, c)
}

/// Asserts the trace is a failure with `error`, and that our Close carries its code.
fn assert_failed(trace: &[Out], error: ProtocolError, code: u16) {
    let closed = closed_of(trace);
    assert_eq!(closed.outcome, Outcome::ProtocolError(error), "{trace:?}");
    assert_eq!(closed.sent.as_ref().unwrap().code, CloseCode(code));
    assert!(!closed.was_clean);
}

fn binary(data: &[u8]) -> Event {
    Event::Binary(Bytes::copy_from_slice(data))
}

#[test]
fn whole_messages_of_every_length_form_both_roles() {
    for role in [Role::Server, Role::Client] {
        for len in [0usize, 1, 125, 126, 127, 65535, 65536, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let input = from_peer_of(role, OpCode::Binary, true, &payload);
            let trace = feed_split_everywhere(|| new_conn(role, no_keepalive()), &input, false);
            assert_eq!(trace, vec![Out::Event(binary(&payload))], "{role:?} {len}");
        }
        let text = "Hello, κόσμε 𝄞".repeat(20);
        let input = from_peer_of(role, OpCode::Text, true, text.as_bytes());
        let trace = feed_split_everywhere(|| new_conn(role, no_keepalive()), &input, false);
        assert_eq!(trace, vec![Out::Event(Event::Text(text.into()))]);
    }
}

#[test]
fn rfc_6455_section_5_7_examples() {
    // A single-frame unmasked text message, to a client.
    let trace = feed_split_everywhere(client, &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f], false);
    assert_eq!(trace, vec![Out::Event(Event::Text("Hello".into()))]);
    // A single-frame masked text message, to a server.
    let trace = feed_split_everywhere(
        server,
        &[
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ],
        false,
    );
    assert_eq!(trace, vec![Out::Event(Event::Text("Hello".into()))]);
    // A fragmented unmasked text message.
    let trace = feed_split_everywhere(
        client,
        &[0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f],
        false,
    );
    assert_eq!(trace, vec![Out::Event(Event::Text("Hello".into()))]);
    // An unmasked Ping; the client auto-answers with a masked Pong of the same payload.
    let trace = feed_split_everywhere(client, &[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f], false);
    assert_eq!(
        trace,
        vec![
            Out::Bytes(vec![
                0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58
            ]),
            Out::Event(Event::Ping(Bytes::from_static(b"Hello"))),
        ]
    );
}

#[test]
fn fragmented_messages_with_interleaved_control_frames() {
    let input = [
        masked(OpCode::Text, false, "κό".as_bytes()),
        masked(OpCode::Ping, true, b"1"),
        // A code point cut across fragments.
        masked(OpCode::Continuation, false, &"σμε".as_bytes()[..3]),
        masked(OpCode::Pong, true, b"2"),
        masked(OpCode::Continuation, false, &[]),
        masked(OpCode::Continuation, true, &"σμε".as_bytes()[3..]),
        masked(OpCode::Binary, false, b"ab"),
        masked(OpCode::Continuation, true, b"cd"),
    ]
    .concat();
    let trace = feed_split_everywhere(server, &input, false);
    assert_eq!(
        trace,
        vec![
            Out::Bytes(unmasked(OpCode::Pong, true, b"1")),
            Out::Event(Event::Ping(Bytes::from_static(b"1"))),
            Out::Event(Event::Pong(Bytes::from_static(b"2"))),
            Out::Event(Event::Text("κόσμε".into())),
            Out::Event(binary(b"abcd")),
        ]
    );
}

#[test]
fn auto_pong_can_be_turned_off_and_pongs_sent_by_hand() {
    let mut config = no_keepalive();
    config.auto_pong = false;
    let make = || new_conn(Role::Server, config.clone());
    let trace = feed_split_everywhere(make, &masked(OpCode::Ping, true, b"x"), false);
    assert_eq!(
        trace,
        vec![Out::Event(Event::Ping(Bytes::from_static(b"x")))]
    );
    let mut conn = new_conn(Role::Server, config);
    conn.send_pong(b"x").unwrap();
    assert_eq!(drain(&mut conn), vec![Out::Bytes(vec![0x8a, 0x01, b'x'])]);
}

#[test]
fn framing_violations_close_with_1002() {
    let cases: Vec<(Role, Vec<u8>, ProtocolError)> = vec![
        (
            Role::Server,
            {
                let mut f = masked(OpCode::Text, true, b"x");
                f[0] |= 0x40; // RSV1
                f
            },
            ProtocolError::ReservedBitsSet(0b100),
        ),
        (
            Role::Client,
            vec![0x80 | 0x30 | 0x02, 0x00], // RSV2+RSV3
            ProtocolError::ReservedBitsSet(0b011),
        ),
        (
            Role::Server,
            vec![0x83, 0x80, 0, 0, 0, 0],
            ProtocolError::UnknownOpcode(3),
        ),
        (
            Role::Client,
            vec![0x8b, 0x00],
            ProtocolError::UnknownOpcode(11),
        ),
        (
            Role::Server,
            masked(OpCode::Ping, false, b"frag"),
            ProtocolError::FragmentedControlFrame,
        ),
        (
            Role::Server,
            masked(OpCode::Ping, true, &[0; 126]),
            ProtocolError::ControlFrameTooLong(126),
        ),
        (
            Role::Client,
            unmasked(OpCode::Close, true, &[0; 126]),
            ProtocolError::ControlFrameTooLong(126),
        ),
        (
            Role::Server,
            masked(OpCode::Continuation, true, b"x"),
            ProtocolError::UnexpectedContinuation,
        ),
        (
            Role::Server,
            [
                masked(OpCode::Text, false, b"a"),
                masked(OpCode::Binary, true, b"b"),
            ]
            .concat(),
            ProtocolError::ExpectedContinuation,
        ),
        (
            Role::Client,
            [
                unmasked(OpCode::Text, false, b"a"),
                unmasked(OpCode::Text, true, b"b"),
            ]
            .concat(),
            ProtocolError::ExpectedContinuation,
        ),
        (
            Role::Client,
            vec![0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0],
            ProtocolError::LengthTopBitSet,
        ),
        (
            Role::Server,
            unmasked(OpCode::Binary, true, b"x"),
            ProtocolError::UnmaskedFrame,
        ),
        (
            Role::Client,
            masked(OpCode::Binary, true, b"x"),
            ProtocolError::MaskedFrame,
        ),
    ];
    for (role, input, error) in cases {
        let trace = feed_split_everywhere(|| new_conn(role, no_keepalive()), &input, true);
        assert_failed(&trace, error, 1002);
        assert_eq!(
            events_of(&trace).len(),
            1,
            "nothing delivered but Closed: {trace:?}"
        );
    }
}

#[test]
fn too_large_frames_are_refused_from_the_header_before_any_payload() {
    // Only the header of a frame over the limit: the connection fails without buffering.
    let header = FrameHeader {
        fin: true,
        rsv: 0,
        opcode: OpCode::Binary,
        mask: Some(MASK),
        payload_len: 1025,
    };
    let mut input = Vec::new();
    header.encode(&mut input);
    let trace = feed_split_everywhere(|| with_limits(Role::Server, 1024, 4096), &input, false);
    assert_failed(
        &trace,
        ProtocolError::FrameTooLarge {
            len: 1025,
            max: 1024,
        },
        1009,
    );
    // Exactly at the limit is fine.
    let ok = masked(OpCode::Binary, true, &[7; 1024]);
    let trace = feed_split_everywhere(|| with_limits(Role::Server, 1024, 4096), &ok, false);
    assert_eq!(trace, vec![Out::Event(binary(&[7; 1024]))]);
}

#[test]
fn too_large_messages_are_refused_from_the_header_that_crosses_the_limit() {
    let input = [
        masked(OpCode::Binary, false, &[1; 1000]),
        masked(OpCode::Continuation, false, &[2; 1000]),
        masked(OpCode::Continuation, true, &[3; 1000]),
    ]
    .concat();
    // The third header crosses 2500: fail before its payload arrives.
    let cut = 2 * (1000 + 8) + 8;
    let trace = feed_split_everywhere(
        || with_limits(Role::Server, 1000, 2500),
        &input[..cut],
        false,
    );
    assert_failed(
        &trace,
        ProtocolError::MessageTooLarge {
            len: 3000,
            max: 2500,
        },
        1009,
    );
    let (conn, _) = run_chunks(
        with_limits(Role::Server, 1000, 2500),
        &[&input[..cut]],
        false,
    );
    assert_eq!(conn.state(), State::Closed);
    let trace = feed_split_everywhere(|| with_limits(Role::Server, 1000, 3000), &input, false);
    assert_eq!(trace.len(), 1);
}

#[test]
fn invalid_utf8_fails_at_the_first_bad_byte_even_in_a_partial_frame() {
    // A 100-byte text frame whose 4th byte is invalid; only its first 10 bytes arrive.
    let mut payload = b"ok".to_vec();
    payload.extend_from_slice(&[0xce, 0xff]);
    payload.resize(100, b'a');
    let frame = masked(OpCode::Text, true, &payload);
    let trace = feed_split_everywhere(server, &frame[..6 + 10], false);
    assert_failed(&trace, ProtocolError::InvalidUtf8, 1007);
    // An impossible prefix (F4 90 is above U+10FFFF) fails before the code point is complete.
    let frame = masked(OpCode::Text, true, &[b'a', 0xf4, 0x90, 0x80, 0x80]);
    let trace = feed_split_everywhere(server, &frame[..6 + 3], false);
    assert_failed(&trace, ProtocolError::InvalidUtf8, 1007);
    // Invalid across fragments, in the first fragment of a message.
    let input = [
        unmasked(OpCode::Text, false, &[0xed]),
        unmasked(OpCode::Continuation, true, &[0xa0, 0x80]),
    ]
    .concat();
    // Up to and including the A0 that makes ED A0 a surrogate.
    let trace = feed_split_everywhere(client, &input[..6], true);
    assert_failed(&trace, ProtocolError::InvalidUtf8, 1007);
}

#[test]
fn a_text_message_ending_inside_a_code_point_is_invalid() {
    let input = [
        masked(OpCode::Text, false, b"a"),
        masked(OpCode::Continuation, true, &[0xe2, 0x82]),
    ]
    .concat();
    let trace = feed_split_everywhere(server, &input, false);
    assert_failed(&trace, ProtocolError::InvalidUtf8, 1007);
}

#[test]
fn fragment_streaming_delivers_each_frame_and_still_checks_utf8() {
    let mut config = no_keepalive();
    config.stream_fragments = true;
    let input = [
        masked(OpCode::Text, false, &"é".as_bytes()[..1]),
        masked(OpCode::Continuation, true, &"é".as_bytes()[1..]),
        masked(OpCode::Binary, true, b"whole"),
    ]
    .concat();
    let trace = feed_split_everywhere(|| new_conn(Role::Server, config.clone()), &input, false);
    let frag = |kind, data: &[u8], first, last| {
        Out::Event(Event::Fragment(Fragment {
            kind,
            data: Bytes::copy_from_slice(data),
            first,
            last,
        }))
    };
    assert_eq!(
        trace,
        vec![
            frag(MessageKind::Text, &[0xc3], true, false),
            frag(MessageKind::Text, &[0xa9], false, true),
            frag(MessageKind::Binary, b"whole", true, true),
        ]
    );
    let bad = [
        masked(OpCode::Text, false, &[0xc3]),
        masked(OpCode::Continuation, true, b"x"),
    ]
    .concat();
    let trace = feed_split_everywhere(|| new_conn(Role::Server, config.clone()), &bad, false);
    assert_failed(&trace, ProtocolError::InvalidUtf8, 1007);
}

#[test]
fn receive_memory_is_bounded_by_what_arrived() {
    let mut conn = with_limits(Role::Server, 1 << 20, 1 << 20);
    let frame = masked(OpCode::Binary, true, &vec![9; 1 << 20]);
    conn.handle_read(Instant::ZERO, &frame[..14 + 1000]);
    assert_eq!(conn.receive_buffered(), 1000);
    conn.handle_read(Instant::ZERO, &frame[14 + 1000..]);
    assert_eq!(conn.receive_buffered(), 0);
}

#[test]
fn sending_whole_messages_and_control_frames_is_byte_exact() {
    let mut conn = client();
    conn.send_text("Hello").unwrap();
    conn.send_binary(&[1, 2, 3]).unwrap();
    conn.send_ping(b"").unwrap();
    assert_eq!(
        drain(&mut conn),
        vec![Out::Bytes(
            [
                vec![0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58],
                masked(OpCode::Binary, true, &[1, 2, 3]),
                vec![0x89, 0x80, 0x37, 0xfa, 0x21, 0x3d],
            ]
            .concat()
        )]
    );
    let mut conn = server();
    let big = vec![5u8; 70_000];
    conn.send_binary(&big).unwrap();
    assert_eq!(
        drain(&mut conn),
        vec![Out::Bytes(unmasked(OpCode::Binary, true, &big))]
    );
    assert_eq!(
        conn.send_ping(&[0; 126]),
        Err(CommandError::ControlPayloadTooLong(126))
    );
    assert_eq!(
        conn.send_pong(&[0; 126]),
        Err(CommandError::ControlPayloadTooLong(126))
    );
}

#[test]
fn sending_explicit_fragments() {
    let mut conn = server();
    conn.send_fragment(MessageKind::Text, &"é".as_bytes()[..1], false)
        .unwrap();
    conn.send_ping(b"between").unwrap();
    assert_eq!(
        conn.send_text("whole"),
        Err(CommandError::FragmentedMessageInProgress)
    );
    assert_eq!(
        conn.send_fragment(MessageKind::Binary, b"x", true),
        Err(CommandError::FragmentKindMismatch {
            in_progress: MessageKind::Text
        })
    );
    assert_eq!(
        conn.send_fragment(MessageKind::Text, &[0xff], true),
        Err(CommandError::InvalidUtf8)
    );
    conn.send_fragment(MessageKind::Text, &"é".as_bytes()[1..], true)
        .unwrap();
    conn.send_binary(b"next").unwrap();
    assert_eq!(
        drain(&mut conn),
        vec![Out::Bytes(
            [
                unmasked(OpCode::Text, false, &[0xc3]),
                unmasked(OpCode::Ping, true, b"between"),
                unmasked(OpCode::Continuation, true, &[0xa9]),
                unmasked(OpCode::Binary, true, b"next"),
            ]
            .concat()
        )]
    );
    // A text message may not end inside a code point.
    assert_eq!(
        conn.send_fragment(MessageKind::Text, &[0xc3], true),
        Err(CommandError::InvalidUtf8)
    );
}

#[test]
fn buffered_amount_counts_queued_and_unwritten_bytes() {
    let mut conn = server();
    conn.send_binary(&[0; 10]).unwrap();
    assert_eq!(conn.buffered_amount(), 12);
    conn.send_binary(&[0; 200]).unwrap();
    assert_eq!(conn.buffered_amount(), 12 + 204);
    let mut buf = Vec::new();
    assert_eq!(conn.poll(&mut buf), Some(ws_proto::Action::Transmit(216)));
    assert_eq!(conn.buffered_amount(), 216);
    conn.handle_written(100);
    assert_eq!(conn.buffered_amount(), 116);
    conn.handle_written(1000);
    assert_eq!(conn.buffered_amount(), 0);
}

#[test]
fn poll_appends_to_a_non_empty_buffer() {
    let mut conn = server();
    conn.send_binary(b"a").unwrap();
    let mut buf = vec![0xAA];
    assert_eq!(conn.poll(&mut buf), Some(ws_proto::Action::Transmit(3)));
    assert_eq!(buf, [0xAA, 0x82, 0x01, b'a']);
}

#[test]
fn no_std_config_defaults_are_documented_values() {
    let c = Config::default();
    assert_eq!(c.max_frame_size, 16 << 20);
    assert_eq!(c.max_message_size, 64 << 20);
    assert!(c.auto_pong);
    assert!(!c.stream_fragments);
    assert_eq!(c.close_timeout, std::time::Duration::from_secs(10));
    assert_eq!(c.client_eof_timeout, std::time::Duration::from_secs(2));
    assert_eq!(
        c.keepalive_interval,
        Some(std::time::Duration::from_secs(20))
    );
    assert_eq!(c.keepalive_timeout, std::time::Duration::from_secs(20));
}

#[test]
fn prepared_messages_are_the_same_bytes_as_sending_directly() {
    let text = ws_proto::PreparedMessage::text("broadcast to everyone");
    let binary = ws_proto::PreparedMessage::binary(&[7u8; 300]);
    // Server: the prepared frame is queued as it is, identical to a direct send.
    let mut direct = new_conn(Role::Server, no_keepalive());
    direct.send_text("broadcast to everyone").unwrap();
    direct.send_binary(&[7u8; 300]).unwrap();
    let mut prepared = new_conn(Role::Server, no_keepalive());
    prepared.send_prepared(&text).unwrap();
    prepared.send_prepared(&binary).unwrap();
    assert_eq!(drain(&mut prepared), drain(&mut direct));
    // Client: masked afresh, and a server reads the same messages.
    let mut client = new_conn(Role::Client, no_keepalive());
    client.send_prepared(&text).unwrap();
    client.send_prepared(&binary).unwrap();
    let mut wire = Vec::new();
    while client.poll(&mut wire).is_some() {}
    let mut server = new_conn(Role::Server, no_keepalive());
    server.handle_read(Instant::ZERO, &wire);
    assert_eq!(
        events_of(&drain(&mut server)),
        [
            Event::Text("broadcast to everyone".into()),
            Event::Binary(Bytes::from(vec![7u8; 300]))
        ]
    );
    // Not while a fragmented message is under way, nor after closing.
    let mut conn = new_conn(Role::Server, no_keepalive());
    conn.send_fragment(MessageKind::Text, b"part", false)
        .unwrap();
    assert_eq!(
        conn.send_prepared(&text),
        Err(ws_proto::CommandError::FragmentedMessageInProgress)
    );
    conn.close(Instant::ZERO, CloseCode::NORMAL, "").unwrap();
    assert!(matches!(
        conn.send_prepared(&text),
        Err(ws_proto::CommandError::NotOpen(_))
    ));
}

/// Polls everything into a `Transmit`; returns its chunks (copied) and the actions.
fn drain_segments(conn: &mut ws_proto::Connection) -> (ws_proto::Transmit, Vec<ws_proto::Action>) {
    let mut transmit = ws_proto::Transmit::new();
    let mut actions = Vec::new();
    while let Some(action) = conn.poll(&mut transmit) {
        actions.push(action);
    }
    (transmit, actions)
}

#[test]
fn owned_payloads_are_the_same_bytes_and_large_ones_are_not_copied() {
    let large = Bytes::from((0..100_000u32).map(|i| i as u8).collect::<Vec<u8>>());
    let text = "κόσμε ".repeat(1000);
    let small = Bytes::from_static(b"tiny");
    let send_all = |conn: &mut ws_proto::Connection, owned: bool| {
        if owned {
            conn.send_binary_owned(small.clone(), Compression::Auto)
                .unwrap();
            conn.send_binary_owned(large.clone(), Compression::Auto)
                .unwrap();
            conn.send_text_owned(text.clone(), Compression::Auto)
                .unwrap();
            conn.send_binary_owned(small.clone(), Compression::Auto)
                .unwrap();
        } else {
            conn.send_binary(&small).unwrap();
            conn.send_binary(&large).unwrap();
            conn.send_text(&text).unwrap();
            conn.send_binary(&small).unwrap();
        }
    };
    for role in [Role::Server, Role::Client] {
        // Byte for byte what the borrowed sends produce (clients: same masks from the seed).
        let mut direct = new_conn(role, no_keepalive());
        send_all(&mut direct, false);
        let mut owned = new_conn(role, no_keepalive());
        send_all(&mut owned, true);
        let mut owned_copy = new_conn(role, no_keepalive());
        send_all(&mut owned_copy, true);
        let expected = drain(&mut direct);
        assert_eq!(
            drain(&mut owned_copy),
            expected,
            "{role:?}: polled into a Vec"
        );
        let (transmit, _) = drain_segments(&mut owned);
        let flat: Vec<u8> = transmit.chunks().flatten().copied().collect();
        let Out::Bytes(expected_bytes) = &expected[0] else {
            panic!("{expected:?}")
        };
        assert_eq!(&flat, expected_bytes, "{role:?}");
        let chunks: Vec<&[u8]> = transmit.chunks().collect();
        match role {
            // [tiny frame + large header] [large] [text header] [text] [tiny frame]
            Role::Server => {
                assert_eq!(chunks.len(), 5, "{role:?}");
                assert_eq!(
                    chunks[1].as_ptr(),
                    large.as_ptr(),
                    "large payload written in place"
                );
                assert_eq!(chunks[3].len(), text.len());
            }
            // A client masks, which needs a copy: one buffer.
            Role::Client => assert_eq!(chunks.len(), 1),
        }
        // And a peer reads them back.
        let peer_role = match role {
            Role::Server => Role::Client,
            Role::Client => Role::Server,
        };
        let mut peer = new_conn(peer_role, no_keepalive());
        peer.handle_read(Instant::ZERO, &flat);
        assert_eq!(
            events_of(&drain(&mut peer)),
            [
                Event::Binary(small.clone()),
                Event::Binary(large.clone()),
                Event::Text(text.clone().into()),
                Event::Binary(small.clone())
            ]
        );
    }
    // The same rules as borrowed sends, for payloads copied and payloads shared.
    let mut conn = server();
    conn.send_fragment(MessageKind::Binary, b"part", false)
        .unwrap();
    for payload in [&small, &large] {
        assert_eq!(
            conn.send_binary_owned(payload.clone(), Compression::Auto),
            Err(CommandError::FragmentedMessageInProgress)
        );
    }
    conn.close(Instant::ZERO, CloseCode::NORMAL, "").unwrap();
    for payload in [&small, &large] {
        assert!(matches!(
            conn.send_binary_owned(payload.clone(), Compression::Auto),
            Err(CommandError::NotOpen(_))
        ));
    }
    assert_eq!(
        conn.send_binary_owned(small, Compression::Auto).is_err(),
        conn.send_binary(b"tiny").is_err()
    );
}

#[test]
fn a_large_owned_prepared_frame_is_queued_in_place_on_a_server() {
    let prepared = ws_proto::PreparedMessage::binary(&[9u8; 50_000]);
    let mut conn = server();
    conn.send_binary(b"before").unwrap();
    conn.send_prepared(&prepared).unwrap();
    conn.send_binary(b"after").unwrap();
    let (transmit, actions) = drain_segments(&mut conn);
    let chunks: Vec<&[u8]> = transmit.chunks().collect();
    assert_eq!(chunks.len(), 3);
    assert_eq!(chunks[1].as_ptr(), prepared.frame().as_ptr());
    assert_eq!(actions.len(), 3);
    assert_eq!(conn.buffered_amount(), transmit.len());
}

#[test]
fn answers_queued_before_a_bad_frame_keep_their_order_with_owned_payloads() {
    // A message, then a bad frame: the application's large answer goes out before our Close.
    let mut input = from_peer_of(Role::Server, OpCode::Binary, true, b"question");
    input.extend_from_slice(&[0x83, 0x80, 0, 0, 0, 0]); // reserved opcode 3
    let mut conn = server();
    conn.handle_read(Instant::ZERO, &input);
    let mut transmit = ws_proto::Transmit::new();
    let first = conn.poll(&mut transmit);
    assert!(
        matches!(first, Some(ws_proto::Action::Event(Event::Binary(_)))),
        "{first:?}"
    );
    let answer = Bytes::from(vec![1u8; 10_000]);
    conn.send_binary_owned(answer.clone(), Compression::Never)
        .unwrap();
    while conn.poll(&mut transmit).is_some() {}
    let flat: Vec<u8> = transmit.chunks().flatten().copied().collect();
    let mut expected = Vec::new();
    ws_proto::frame::encode_frame(&mut expected, true, 0, OpCode::Binary, None, &answer);
    assert_eq!(&flat[..expected.len()], &expected[..]);
    // Then our Close with 1002.
    let close = &flat[expected.len()..];
    assert_eq!(
        (close[0], &close[2..4]),
        (0x88, &[0x03, 0xea][..]),
        "{close:?}"
    );
}
