//! The hostile-input catalogue, through the core: each attack's close code, reported error, and
//! that memory stays bounded (see README, "Security"). Socket-level cases are in ws-tokio's tests.

mod common;

use common::*;
use ws_proto::frame::{FrameHeader, OpCode};
use ws_proto::{CloseCode, Event, Instant, Outcome, ProtocolError, Role};

fn server_with(max_frame: usize, max_message: usize) -> ws_proto::Connection {
    let mut config = no_keepalive();
    config.max_frame_size = max_frame;
    config.max_message_size = max_message;
    new_conn(Role::Server, config)
}

fn masked_header(opcode: OpCode, fin: bool, len: u64) -> Vec<u8> {
    let mut out = Vec::new();
    FrameHeader {
        fin,
        rsv: 0,
        opcode,
        mask: Some(MASK),
        payload_len: len,
    }
    .encode(&mut out);
    out
}

/// Feeds `input` to a fresh server and returns its `Closed` report and sent close code.
fn attack(mut conn: ws_proto::Connection, input: &[u8]) -> (ws_proto::Closed, u16, usize) {
    conn.handle_read(Instant::ZERO, input);
    let allocated = conn.receive_allocated();
    let trace = drain(&mut conn);
    let closed = closed_of(&trace);
    let code = closed.sent.as_ref().map_or(0, |f| f.code.0);
    (closed, code, allocated)
}

#[test]
fn length_with_the_top_bit_set() {
    let (closed, code, _) = attack(
        server_with(1 << 20, 1 << 20),
        &[0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4],
    );
    assert_eq!(
        closed.outcome,
        Outcome::ProtocolError(ProtocolError::LengthTopBitSet)
    );
    assert_eq!(code, 1002);
}

#[test]
fn a_frame_just_over_the_limit_is_refused_from_its_header() {
    let header = masked_header(OpCode::Binary, true, (1 << 20) + 1);
    let (closed, code, allocated) = attack(server_with(1 << 20, 4 << 20), &header);
    assert_eq!(
        closed.outcome,
        Outcome::ProtocolError(ProtocolError::FrameTooLarge {
            len: (1 << 20) + 1,
            max: 1 << 20
        })
    );
    assert_eq!(code, 1009);
    assert!(
        allocated <= 14,
        "nothing buffered for the payload: {allocated}"
    );
}

#[test]
fn a_60_mib_frame_trickled_a_byte_at_a_time_holds_memory_in_proportion() {
    let mut conn = server_with(64 << 20, 64 << 20);
    conn.handle_read(
        Instant::ZERO,
        &masked_header(OpCode::Binary, true, 60 << 20),
    );
    let mut received = 0usize;
    let kilobyte = [7u8; 1000];
    for step in 0..120_000u32 {
        // A byte at a time, then (past the eager reservation) a kilobyte at a time.
        let piece: &[u8] = if step < 100_000 {
            &kilobyte[..1]
        } else {
            &kilobyte
        };
        conn.handle_read(Instant::ZERO, piece);
        received += piece.len();
        // Reserved up front: at most 1 MiB of the frame (address space: pages are touched only
        // as payload arrives), and room for the next frame's header. Past that, capacity grows
        // with what arrived.
        let allocated = conn.receive_allocated();
        assert!(
            allocated <= 2 * 14 + (2 * received + 64).max(1 << 20),
            "{allocated} bytes held after {received}"
        );
    }
    assert_eq!(conn.receive_buffered(), 20_100_000);
    assert_eq!(conn.state(), ws_proto::State::Open);
}

#[test]
fn control_frame_attacks() {
    let cases = [
        (
            masked(OpCode::Ping, true, &[0; 126]),
            ProtocolError::ControlFrameTooLong(126),
        ),
        (
            masked(OpCode::Ping, false, b"x"),
            ProtocolError::FragmentedControlFrame,
        ),
        (
            masked(OpCode::Close, true, &[3]),
            ProtocolError::TruncatedClosePayload,
        ),
        (
            masked(OpCode::Close, true, &close_payload(999, "")),
            ProtocolError::InvalidCloseCode(999),
        ),
    ];
    for (input, error) in cases {
        let (closed, code, _) = attack(server_with(1024, 1024), &input);
        assert_eq!(closed.outcome, Outcome::ProtocolError(error));
        assert_eq!(code, 1002);
    }
    let bad_reason = masked(
        OpCode::Close,
        true,
        &[close_payload(1000, ""), vec![0xc3, 0x28]].concat(),
    );
    let (closed, code, _) = attack(server_with(1024, 1024), &bad_reason);
    assert_eq!(
        closed.outcome,
        Outcome::ProtocolError(ProtocolError::InvalidCloseReason)
    );
    assert_eq!(code, 1007);
}

#[test]
fn reserved_bits_opcodes_masking_and_continuation_attacks() {
    let mut rsv = masked(OpCode::Text, true, b"x");
    rsv[0] |= 0x40;
    let cases: Vec<(Role, Vec<u8>, ProtocolError)> = vec![
        (Role::Server, rsv, ProtocolError::ReservedBitsSet(0b100)),
        (
            Role::Server,
            vec![0x85, 0x80, 0, 0, 0, 0],
            ProtocolError::UnknownOpcode(5),
        ),
        (
            Role::Server,
            unmasked(OpCode::Text, true, b"x"),
            ProtocolError::UnmaskedFrame,
        ),
        (
            Role::Client,
            masked(OpCode::Text, true, b"x"),
            ProtocolError::MaskedFrame,
        ),
        (
            Role::Server,
            masked(OpCode::Continuation, true, b"x"),
            ProtocolError::UnexpectedContinuation,
        ),
    ];
    for (role, input, error) in cases {
        let mut conn = new_conn(role, no_keepalive());
        conn.handle_read(Instant::ZERO, &input);
        conn.handle_eof(Instant::ZERO);
        let closed = closed_of(&drain(&mut conn));
        assert_eq!(closed.outcome, Outcome::ProtocolError(error));
        assert_eq!(closed.sent.unwrap().code, CloseCode::PROTOCOL_ERROR);
    }
}

#[test]
fn invalid_utf8_across_fragments_and_inside_a_partial_frame() {
    let across = [
        masked(OpCode::Text, false, &[0xe2, 0x82]),
        masked(OpCode::Continuation, true, &[0x28]),
    ]
    .concat();
    let (closed, code, _) = attack(server_with(1024, 1024), &across);
    assert_eq!(
        closed.outcome,
        Outcome::ProtocolError(ProtocolError::InvalidUtf8)
    );
    assert_eq!(code, 1007);
    let mut partial = masked(OpCode::Text, true, &[b'a', 0xff, b'b', b'c', b'd', b'e']);
    partial.truncate(6 + 2);
    let (closed, code, _) = attack(server_with(1024, 1024), &partial);
    assert_eq!(
        closed.outcome,
        Outcome::ProtocolError(ProtocolError::InvalidUtf8)
    );
    assert_eq!(code, 1007);
}

#[test]
fn data_after_the_peers_close_is_never_delivered() {
    let input = [
        masked(OpCode::Close, true, &close_payload(1000, "")),
        masked(OpCode::Text, true, b"smuggled"),
    ]
    .concat();
    let mut conn = server_with(1024, 1024);
    conn.handle_read(Instant::ZERO, &input);
    let events = events_of(&drain(&mut conn));
    assert!(!events.iter().any(|e| matches!(e, Event::Text(_))));
}

#[test]
fn a_hundred_thousand_tiny_fragments_are_bounded_by_the_message_limit() {
    let mut conn = server_with(1024, 64 * 1024);
    let mut input = masked(OpCode::Binary, false, b"x");
    for _ in 0..100_000 {
        input.extend_from_slice(&masked(OpCode::Continuation, false, b"x"));
    }
    let mut max_allocated = 0;
    for chunk in input.chunks(4096) {
        conn.handle_read(Instant::ZERO, chunk);
        max_allocated = max_allocated.max(conn.receive_allocated());
    }
    let closed = closed_of(&drain(&mut conn));
    assert_eq!(
        closed.outcome,
        Outcome::ProtocolError(ProtocolError::MessageTooLarge {
            len: 64 * 1024 + 1,
            max: 64 * 1024
        })
    );
    assert!(max_allocated <= 14 + 125 + 128 * 1024, "{max_allocated}");
}

#[test]
fn a_ping_flood_queues_pongs_in_proportion_to_input_for_the_driver_to_bound() {
    // The core answers every Ping; the bound on a peer that never reads our Pongs is the
    // driver's: it stops reading above its write high-water mark (tested over a real socket in
    // ws-tokio). Here: output grows linearly with input, never more.
    let mut conn = server_with(1024, 1024);
    let ping = masked(OpCode::Ping, true, b"");
    let flood: Vec<u8> = ping
        .iter()
        .copied()
        .cycle()
        .take(ping.len() * 10_000)
        .collect();
    conn.handle_read(Instant::ZERO, &flood);
    assert_eq!(conn.buffered_amount(), 2 * 10_000);
}
