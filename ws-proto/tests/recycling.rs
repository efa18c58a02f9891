//! Payloads the application sends back are reused to receive later messages: a buffer the
//! connection copied into a frame and that nobody else holds receives the next message of its
//! size, which saves an allocation and a free per echoed message. The received bytes are
//! exactly what arrived, whatever the buffer held before.

mod common;

use bytes::Bytes;
use common::*;
use ws_proto::frame::OpCode;
use ws_proto::{Compression, Connection, Event, Instant, Role};

fn server() -> Connection {
    new_conn(Role::Server, no_keepalive())
}

fn receive(conn: &mut Connection, chunks: &[&[u8]]) -> Vec<Event> {
    let mut trace = Vec::new();
    for chunk in chunks {
        conn.handle_read(Instant::ZERO, chunk);
        drain_into(conn, &mut trace);
    }
    events_of(&trace)
}

#[test]
fn a_sent_payload_nobody_holds_receives_the_next_message() {
    let payload = b"0123456789abcdef";
    let frame = masked(OpCode::Binary, true, payload);
    // Whole in one read (the one-step path) and split inside the payload (the general path).
    for split in [frame.len(), 10] {
        let mut conn = server();
        conn.send_binary_owned(Bytes::from(vec![0xee; 16]), Compression::Never)
            .unwrap();
        drain(&mut conn);
        assert_eq!(conn.recycled_capacity(), 16, "the sent buffer is kept");
        let events = receive(&mut conn, &[&frame[..split], &frame[split..]]);
        assert_eq!(events, vec![Event::Binary(Bytes::from_static(payload))]);
        assert_eq!(
            conn.recycled_capacity(),
            0,
            "and received into (split at {split})"
        );
    }
}

#[test]
fn text_is_recycled_as_binary_is() {
    let mut conn = server();
    conn.send_text_owned("κόσμε!".to_string(), Compression::Never)
        .unwrap();
    drain(&mut conn);
    assert_eq!(conn.recycled_capacity(), 11);
    let events = receive(
        &mut conn,
        &[&masked(OpCode::Text, true, "κόσμε?".as_bytes())],
    );
    assert_eq!(events, vec![Event::Text("κόσμε?".into())]);
    assert_eq!(conn.recycled_capacity(), 0);
}

#[test]
fn a_payload_the_application_still_holds_is_left_alone() {
    let mut conn = server();
    let data = Bytes::from(vec![7u8; 16]);
    let held = data.clone();
    conn.send_binary_owned(data, Compression::Never).unwrap();
    drain(&mut conn);
    assert_eq!(conn.recycled_capacity(), 0);
    receive(
        &mut conn,
        &[&masked(OpCode::Binary, true, b"fedcba9876543210")],
    );
    assert_eq!(held, Bytes::from(vec![7u8; 16]));
}

#[test]
fn a_kept_buffer_of_another_size_is_not_used() {
    // The application would hold 1,000 bytes for a 16-byte message for as long as it keeps it,
    // and `Bytes` would allocate to own a buffer with spare capacity.
    let mut conn = server();
    conn.send_binary_owned(Bytes::from(vec![0xee; 1000]), Compression::Never)
        .unwrap();
    drain(&mut conn);
    let events = receive(
        &mut conn,
        &[&masked(OpCode::Binary, true, b"0123456789abcdef")],
    );
    assert_eq!(
        events,
        vec![Event::Binary(Bytes::from_static(b"0123456789abcdef"))]
    );
    assert_eq!(conn.recycled_capacity(), 1000);
}

#[test]
fn at_most_eight_are_kept_and_the_idle_release_frees_them() {
    let mut conn = server();
    for _ in 0..10 {
        conn.send_binary_owned(Bytes::from(vec![0xee; 16]), Compression::Never)
            .unwrap();
    }
    drain(&mut conn);
    assert_eq!(conn.recycled_capacity(), 8 * 16);
    // A batch of messages takes them in turn, each receiving exactly its own bytes.
    let frames: Vec<Vec<u8>> = (0..3u8)
        .map(|i| masked(OpCode::Binary, true, &[i; 16]))
        .collect();
    let wire = frames.concat();
    let events = receive(&mut conn, &[&wire]);
    let expected: Vec<Event> = (0..3u8)
        .map(|i| Event::Binary(Bytes::from(vec![i; 16])))
        .collect();
    assert_eq!(events, expected);
    assert_eq!(conn.recycled_capacity(), 5 * 16);
    conn.release_recycled_buffer();
    assert_eq!(conn.recycled_capacity(), 0);
}

#[test]
fn the_buffer_of_the_right_size_is_found_among_those_kept() {
    let mut conn = server();
    for len in [20, 16, 30] {
        conn.send_binary_owned(Bytes::from(vec![0xee; len]), Compression::Never)
            .unwrap();
    }
    drain(&mut conn);
    assert_eq!(conn.recycled_capacity(), 66);
    let events = receive(&mut conn, &[&masked(OpCode::Binary, true, &[1; 20])]);
    assert_eq!(events, vec![Event::Binary(Bytes::from(vec![1u8; 20]))]);
    assert_eq!(conn.recycled_capacity(), 46);
}

#[test]
fn a_buffer_handed_back_receives_the_next_large_message_whole_or_in_pieces() {
    let payload: Vec<u8> = (0..65_536u32).map(|i| (i * 7 % 251) as u8).collect();
    let frame = masked(OpCode::Binary, true, &payload);
    // Whole in one read (unmasked straight from the read into the kept buffer), split inside
    // the payload (the general path, into the buffer's stale bytes), and into a larger buffer.
    for (split, kept) in [
        (frame.len(), 65_536),
        (1_000, 65_536),
        (frame.len(), 100_000),
    ] {
        let mut conn = server();
        conn.recycle_buffer(vec![0xee; kept]);
        assert_eq!(conn.recycled_capacity(), kept);
        let events = receive(&mut conn, &[&frame[..split], &frame[split..]]);
        assert_eq!(events, vec![Event::Binary(Bytes::from(payload.clone()))]);
        assert_eq!(
            conn.recycled_capacity(),
            0,
            "received into (split at {split})"
        );
    }
}
