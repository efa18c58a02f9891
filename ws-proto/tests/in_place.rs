//! Reading into a buffer the connection may take apart (`Connection::handle_read_buf`, what
//! ws-driver does over tokio): a large message that arrives whole becomes a slice of the buffer,
//! unmasked (and text checked) where it lies, and everything comes out exactly as `handle_read`
//! gives it, whatever the read sizes and buffer capacities, mixed with direct reads.

mod common;

use bytes::BytesMut;
use common::*;
use proptest::prelude::*;
use ws_proto::frame::OpCode;
use ws_proto::{Connection, Event, Instant, Role};

/// What feeding a wire gave: the trace, and how many messages were slices of the read buffer
/// they arrived in.
struct Fed {
    trace: Vec<Out>,
    in_place: usize,
}

/// Feeds `wire` as ws-driver does over tokio: directly into the message when the connection
/// offers a payload buffer, otherwise the next size (within `read_limit`) into a `BytesMut` of
/// `capacity`, handed over with `handle_read_buf`. The buffer is reused as the driver reuses its
/// own: `reserve` reclaims it when no message holds it (this trace holds every message, so it
/// rarely can).
fn feed_buf(mut conn: Connection, wire: &[u8], sizes: &[usize], capacity: usize) -> Fed {
    let mut fed = Fed {
        trace: Vec::new(),
        in_place: 0,
    };
    let mut buf = BytesMut::new();
    let mut pos = 0;
    let mut i = 0;
    while pos < wire.len() {
        let size = sizes[i % sizes.len()].max(1);
        i += 1;
        let mut range = 0..0;
        if let Some(window) = conn.payload_buffer() {
            let n = size.min(window.len()).min(wire.len() - pos);
            window[..n].copy_from_slice(&wire[pos..pos + n]);
            conn.handle_payload_read(Instant::ZERO, n);
            pos += n;
        } else {
            let limit = conn.read_limit().unwrap_or(usize::MAX);
            let n = size.min(limit).min(capacity).min(wire.len() - pos);
            buf.reserve(capacity);
            buf.extend_from_slice(&wire[pos..pos + n]);
            let start = buf.as_ptr() as usize;
            range = start..start + buf.capacity();
            conn.handle_read_buf(Instant::ZERO, &mut buf);
            assert!(buf.is_empty(), "the buffer is used up");
            pos += n;
        }
        for out in drain_into(&mut conn, &mut fed.trace) {
            let at = match &out {
                Out::Event(Event::Binary(data)) => data.as_ptr(),
                Out::Event(Event::Text(text)) => text.as_ptr(),
                _ => continue,
            };
            if range.contains(&(at as usize)) {
                fed.in_place += 1;
            }
        }
    }
    conn.handle_eof(Instant::ZERO);
    drain_into(&mut conn, &mut fed.trace);
    fed
}

/// The reference: the same wire in one `handle_read`.
fn feed_whole(mut conn: Connection, wire: &[u8]) -> Vec<Out> {
    let mut trace = Vec::new();
    conn.handle_read(Instant::ZERO, wire);
    drain_into(&mut conn, &mut trace);
    conn.handle_eof(Instant::ZERO);
    drain_into(&mut conn, &mut trace);
    trace
}

/// Frames of every kind and size around the in-place thresholds: large and small binary, large
/// text, a fragmented message with a ping inside, frames past the direct-read size, and a bad
/// text message after them all.
fn wire_for(role: Role, bad_utf8: bool) -> Vec<u8> {
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 31 % 251) as u8).collect();
    let text = "ab€𝄞 κόσμε ".repeat(5_000);
    let mut wire = Vec::new();
    for len in [70_000, 5_000, 65_536, 100, 16_385, 280_000, 66_000] {
        wire.extend(from_peer_of(role, OpCode::Binary, true, &big[..len]));
    }
    wire.extend(from_peer_of(role, OpCode::Text, true, text.as_bytes()));
    wire.extend(from_peer_of(role, OpCode::Binary, false, &big[..70_000]));
    wire.extend(from_peer_of(role, OpCode::Ping, true, b"between"));
    wire.extend(from_peer_of(
        role,
        OpCode::Continuation,
        true,
        &big[..70_000],
    ));
    wire.extend(from_peer_of(role, OpCode::Binary, true, &big[1..70_001]));
    if bad_utf8 {
        let mut bad = text.as_bytes()[..70_000].to_vec();
        bad[60_001] = 0xff;
        wire.extend(from_peer_of(role, OpCode::Text, true, &bad));
    }
    wire.extend(from_peer_of(role, OpCode::Binary, true, &big[..80_000]));
    wire.extend(from_peer_of(
        role,
        OpCode::Close,
        true,
        &close_payload(1000, "done"),
    ));
    wire
}

#[test]
fn reading_into_a_buffer_to_take_apart_gives_the_same_trace() {
    for role in [Role::Server, Role::Client] {
        for stream in [false, true] {
            for bad_utf8 in [false, true] {
                let wire = wire_for(role, bad_utf8);
                let expected = feed_whole(new_conn(role, streaming(stream)), &wire);
                for capacity in [1, 4096, 65_536, 262_144, 1 << 20] {
                    for sizes in [
                        &[1usize][..],
                        &[7, 4096, 3],
                        &[65_536],
                        &[262_144],
                        &[1 << 20],
                        &[100, 30_000, 200_000],
                    ] {
                        if sizes == [1] && capacity != 262_144 {
                            // Byte by byte nothing fits whole, whatever the capacity: once is
                            // enough (and the slowest feed of all).
                            continue;
                        }
                        let fed =
                            feed_buf(new_conn(role, streaming(stream)), &wire, sizes, capacity);
                        assert!(
                            fed.trace == expected,
                            "{role:?} stream {stream} bad {bad_utf8} capacity {capacity} {sizes:?}"
                        );
                        // Reads of 256 KiB into as large a buffer take most of the
                        // whole-arriving 64-70 KiB messages in place (not in streaming mode,
                        // which delivers frames as fragments).
                        if !stream && capacity == 262_144 && sizes[0] >= capacity {
                            assert!(fed.in_place >= 3, "{capacity} {sizes:?}: {}", fed.in_place);
                        }
                        if stream || sizes == [1] {
                            assert_eq!(fed.in_place, 0, "{stream} {capacity} {sizes:?}");
                        }
                    }
                }
                if bad_utf8 {
                    let sent = closed_of(&expected).sent.map(|c| c.code.0);
                    assert_eq!(sent, Some(1007));
                }
            }
        }
    }
}

#[test]
fn a_large_whole_message_is_a_slice_of_the_buffer_and_smaller_ones_are_copies() {
    let large: Vec<u8> = (0..70_000u32).map(|i| (i % 253) as u8).collect();
    let long_text = "κόσμε 𝄞 ".repeat(4_500);
    let mut wire = masked(OpCode::Binary, true, &large);
    wire.extend(masked(OpCode::Binary, true, &large[..20_000]));
    wire.extend(masked(OpCode::Text, true, &[b'x'; 2_000]));
    wire.extend(masked(OpCode::Binary, true, &large[..65_536]));
    wire.extend(masked(OpCode::Text, true, long_text.as_bytes()));
    let mut conn = new_conn(Role::Server, no_keepalive());
    let mut buf = BytesMut::with_capacity(262_144);
    assert!(wire.len() <= 262_144);
    buf.extend_from_slice(&wire);
    let start = buf.as_ptr() as usize;
    let within = |p: *const u8| (start..start + 262_144).contains(&(p as usize));
    conn.handle_read_buf(Instant::ZERO, &mut buf);
    let events = events_of(&drain(&mut conn));
    let [Event::Binary(first), Event::Binary(second), Event::Text(text), Event::Binary(fourth), Event::Text(fifth)] =
        &events[..]
    else {
        panic!("{events:?}")
    };
    assert_eq!(first[..], large[..], "unmasked in place");
    assert_eq!(fourth[..], large[..65_536]);
    assert_eq!(*fifth, long_text, "unmasked and checked in place");
    assert!(
        within(first.as_ptr()) && within(fourth.as_ptr()) && within(fifth.as_ptr()),
        "slices"
    );
    // Under a quarter of the buffer's capacity, or text: copied, holding only themselves.
    assert_eq!(second[..], large[..20_000]);
    assert_eq!(*text, "x".repeat(2_000));
    assert!(!within(second.as_ptr()) && !within(text.as_ptr()), "copies");
    assert!(buf.is_empty());

    // While a slice is held, the next read goes into a new buffer and the held message stays
    // as it was.
    let held = first.clone();
    drop(events);
    buf.reserve(262_144);
    assert!(
        !within(buf.as_ptr()),
        "a new buffer while a message holds the old one"
    );
    let other: Vec<u8> = large.iter().map(|b| b ^ 0x55).collect();
    buf.extend_from_slice(&masked(OpCode::Binary, true, &other));
    conn.handle_read_buf(Instant::ZERO, &mut buf);
    let events = events_of(&drain(&mut conn));
    assert_eq!(events, [Event::Binary(other.into())]);
    assert_eq!(held[..], large[..]);
}

#[test]
fn the_buffer_is_reclaimed_whole_once_its_messages_are_dropped() {
    let large = vec![9u8; 100_000];
    let wire = masked(OpCode::Binary, true, &large);
    let mut conn = new_conn(Role::Server, no_keepalive());
    let mut buf = BytesMut::with_capacity(262_144);
    let start = buf.as_ptr();
    for _ in 0..3 {
        buf.reserve(262_144);
        assert_eq!(buf.as_ptr(), start, "the same allocation, from its start");
        buf.extend_from_slice(&wire);
        conn.handle_read_buf(Instant::ZERO, &mut buf);
        let events = events_of(&drain(&mut conn));
        let [Event::Binary(message)] = &events[..] else {
            panic!("{events:?}")
        };
        assert_eq!(
            message.as_ptr(),
            start.wrapping_add(wire.len() - large.len())
        );
        assert_eq!(message[..], large[..]);
    }
}

#[test]
fn a_client_takes_unmasked_messages_in_place_and_a_server_never_takes_unmasked_ones() {
    let large = vec![3u8; 70_000];
    let mut client = new_conn(Role::Client, no_keepalive());
    let mut buf = BytesMut::with_capacity(262_144);
    buf.extend_from_slice(&unmasked(OpCode::Binary, true, &large));
    let start = buf.as_ptr();
    client.handle_read_buf(Instant::ZERO, &mut buf);
    let events = events_of(&drain(&mut client));
    let [Event::Binary(message)] = &events[..] else {
        panic!("{events:?}")
    };
    assert_eq!(message.as_ptr(), start.wrapping_add(10));
    // A server given an unmasked frame fails the connection as `handle_read` does.
    let wire = unmasked(OpCode::Binary, true, &large);
    let expected = feed_whole(new_conn(Role::Server, no_keepalive()), &wire);
    let fed = feed_buf(
        new_conn(Role::Server, no_keepalive()),
        &wire,
        &[262_144],
        262_144,
    );
    assert!(fed.trace == expected);
    assert_eq!(fed.in_place, 0);
    assert_eq!(closed_of(&expected).sent.map(|c| c.code.0), Some(1002));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn any_read_sizes_and_capacities_give_the_same_trace(
        client in any::<bool>(),
        stream in any::<bool>(),
        bad in any::<bool>(),
        sizes in prop::collection::vec(1usize..300_000, 1..6),
        capacity in 1usize..600_000,
    ) {
        let role = if client { Role::Client } else { Role::Server };
        let wire = wire_for(role, bad);
        let expected = feed_whole(new_conn(role, streaming(stream)), &wire);
        let fed = feed_buf(new_conn(role, streaming(stream)), &wire, &sizes, capacity);
        prop_assert!(fed.trace == expected);
    }
}
