//! Property tests: encode -> decode round trips of frames and messages, and arbitrary input
//! never panics, never breaks the output-order invariants and never holds memory past the limits.

mod common;

use common::*;
use proptest::prelude::*;
use ws_proto::frame::{FrameHeader, OpCode, MAX_HEADER_LEN};
use ws_proto::{Bytes, Config, Event, Instant, MessageKind, Role, State};

fn opcode() -> impl Strategy<Value = OpCode> {
    prop::sample::select(vec![
        OpCode::Continuation,
        OpCode::Text,
        OpCode::Binary,
        OpCode::Close,
        OpCode::Ping,
        OpCode::Pong,
    ])
}

fn role() -> impl Strategy<Value = Role> {
    prop::sample::select(vec![Role::Client, Role::Server])
}

/// A message to send: its kind, content, and how to cut it into fragments.
#[derive(Clone, Debug)]
struct Msg {
    kind: MessageKind,
    data: Vec<u8>,
    cuts: Vec<usize>,
    ping_between: bool,
}

fn message() -> impl Strategy<Value = Msg> {
    let text = ".{0,300}".prop_map(|s: String| (MessageKind::Text, s.into_bytes()));
    let binary = prop::collection::vec(any::<u8>(), 0..2000).prop_map(|d| (MessageKind::Binary, d));
    (
        prop_oneof![text, binary],
        prop::collection::vec(0usize..2000, 0..4),
        any::<bool>(),
    )
        .prop_map(|((kind, data), mut cuts, ping_between)| {
            cuts.iter_mut().for_each(|c| *c %= data.len() + 1);
            cuts.sort_unstable();
            Msg {
                kind,
                data,
                cuts,
                ping_between,
            }
        })
}

/// Splits `data` into chunks of the given sizes (cycled).
fn chunked<'a>(data: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    let mut chunks = Vec::new();
    let mut rest = data;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].clamp(1, rest.len());
        let (a, b) = rest.split_at(n);
        chunks.push(a);
        rest = b;
        i += 1;
    }
    chunks
}

fn expected_event(msg: &Msg) -> Event {
    match msg.kind {
        MessageKind::Text => Event::Text(String::from_utf8(msg.data.clone()).unwrap().into()),
        MessageKind::Binary => Event::Binary(Bytes::from(msg.data.clone())),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn frame_headers_round_trip(
        fin in any::<bool>(),
        rsv in 0u8..8,
        opcode in opcode(),
        mask in prop::option::of(any::<[u8; 4]>()),
        len in prop_oneof![0u64..=125, 126u64..=65535, 65536u64..=(u64::MAX >> 1)],
    ) {
        let header = FrameHeader { fin, rsv, opcode, mask, payload_len: len };
        let mut out = Vec::new();
        header.encode(&mut out);
        prop_assert_eq!(out.len(), header.encoded_len());
        prop_assert!(out.len() <= MAX_HEADER_LEN);
        out.extend_from_slice(b"trailing payload");
        prop_assert_eq!(FrameHeader::parse(&out), Ok(Some((header, header.encoded_len()))));
    }

    #[test]
    fn messages_round_trip_through_a_connection_pair(
        sender in role(),
        messages in prop::collection::vec(message(), 0..8),
        sizes in prop::collection::vec(1usize..300, 1..8),
    ) {
        let receiver_role = match sender { Role::Client => Role::Server, Role::Server => Role::Client };
        let mut tx = new_conn(sender, no_keepalive());
        for msg in &messages {
            let mut start = 0;
            let mut cuts = msg.cuts.clone();
            cuts.push(msg.data.len());
            for (i, &cut) in cuts.iter().enumerate() {
                let fin = i == cuts.len() - 1;
                tx.send_fragment(msg.kind, &msg.data[start..cut], fin).unwrap();
                if msg.ping_between && !fin {
                    tx.send_ping(b"mid").unwrap();
                }
                start = cut;
            }
        }
        let wire: Vec<u8> = drain(&mut tx)
            .into_iter()
            .flat_map(|o| match o { Out::Bytes(b) => b, other => panic!("{other:?}") })
            .collect();
        let rx = new_conn(receiver_role, no_keepalive());
        let (_, trace) = run_chunks(rx, &chunked(&wire, &sizes), false);
        let got: Vec<Event> = events_of(&trace)
            .into_iter()
            .filter(|e| !matches!(e, Event::Ping(_)))
            .collect();
        let want: Vec<Event> = messages.iter().map(expected_event).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn arbitrary_input_never_panics_and_memory_stays_bounded(
        role in role(),
        data in prop::collection::vec(any::<u8>(), 0..4000),
        sizes in prop::collection::vec(1usize..200, 1..6),
        eof in any::<bool>(),
        stream in any::<bool>(),
    ) {
        let mut config = Config::default();
        config.max_frame_size = 300;
        config.max_message_size = 700;
        config.stream_fragments = stream;
        let mut conn = new_conn(role, config);
        let bound = MAX_HEADER_LEN + 125 + 700;
        let mut trace = Vec::new();
        let mut last_state = conn.state();
        for chunk in chunked(&data, &sizes) {
            conn.handle_read(Instant::ZERO, chunk);
            drain_into(&mut conn, &mut trace);
            prop_assert!(conn.receive_buffered() <= bound);
            prop_assert!(conn.state() >= last_state, "state went backwards");
            last_state = conn.state();
        }
        if eof {
            conn.handle_eof(Instant::ZERO);
            drain_into(&mut conn, &mut trace);
            prop_assert_eq!(conn.state(), State::Closed);
        }
        conn.handle_timeout(Instant::MAX);
        drain_into(&mut conn, &mut trace);
        let closed = trace.iter().filter(|o| matches!(o, Out::Event(Event::Closed(_)))).count();
        prop_assert!(closed <= 1);
    }

    #[test]
    fn valid_frames_after_garbage_prefixes_never_panic_under_any_split(
        role in role(),
        prefix in prop::collection::vec(any::<u8>(), 0..20),
        payload in prop::collection::vec(any::<u8>(), 0..300),
        cut in any::<prop::sample::Index>(),
    ) {
        let input = [prefix, from_peer_of(role, OpCode::Binary, true, &payload)].concat();
        let cut = cut.index(input.len() + 1);
        let whole = run_chunks(new_conn(role, no_keepalive()), &[&input], true).1;
        let split = run_chunks(new_conn(role, no_keepalive()), &[&input[..cut], &input[cut..]], true).1;
        prop_assert_eq!(whole, split);
    }
}

#[cfg(feature = "handshake")]
proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// The handshake machines are fuzz-ready entry points: any bytes, any chunking, never a panic,
    /// and never more than one terminal outcome.
    #[test]
    fn arbitrary_bytes_into_the_handshakes_never_panic(
        prefix in prop::sample::select(vec![
            &b""[..],
            b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\n",
            b"HTTP/1.1 101 Switching Protocols\r\n",
        ]),
        data in prop::collection::vec(any::<u8>(), 0..600),
        sizes in prop::collection::vec(1usize..100, 1..6),
        eof in any::<bool>(),
    ) {
        use ws_proto::handshake::{Accept, ClientAction, ClientHandshake, ServerAction, ServerHandshake};
        let input = [prefix, &data[..]].concat();
        let mut server = ServerHandshake::new(Instant::ZERO, Config::default());
        let request = ClientHandshake::request("ws://a/").unwrap();
        let mut client = ClientHandshake::new(
            Instant::ZERO, request, [0; 16], Config::default(), ws_proto::FixedMask(MASK),
        ).unwrap();
        let mut ends = 0;
        for chunk in chunked(&input, &sizes) {
            server.handle_read(Instant::ZERO, chunk);
            client.handle_read(Instant::ZERO, chunk);
            while let Some(action) = server.poll(&mut Vec::new()) {
                match action {
                    ServerAction::Request(_) => {
                        let _ = server.accept(Instant::ZERO, Accept::default());
                    }
                    ServerAction::Failed(_) => ends += 1,
                    _ => {}
                }
            }
            while let Some(action) = client.poll(&mut Vec::new()) {
                if matches!(action, ClientAction::Open(_) | ClientAction::Failed(_)) {
                    ends += 1;
                }
            }
        }
        if eof {
            server.handle_eof(Instant::ZERO);
            client.handle_eof(Instant::ZERO);
        }
        server.handle_timeout(Instant::MAX);
        client.handle_timeout(Instant::MAX);
        while let Some(action) = server.poll(&mut Vec::new()) {
            ends += usize::from(matches!(action, ServerAction::Failed(_)));
        }
        while let Some(action) = client.poll(&mut Vec::new()) {
            ends += usize::from(matches!(action, ClientAction::Open(_) | ClientAction::Failed(_)));
        }
        prop_assert!(ends <= 2);
    }
}
