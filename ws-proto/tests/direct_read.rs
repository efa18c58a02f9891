//! Reading large payloads straight into the message buffer (`Connection::payload_buffer` +
//! `handle_payload_read`) gives exactly what `handle_read` gives, whatever the read sizes and
//! however the two are mixed, and keeps memory touched in proportion to what arrived. A driver
//! that also honours `read_limit` gets the same, with nearly every large payload read directly.

mod common;

use common::*;
use proptest::prelude::*;
use ws_proto::frame::OpCode;
use ws_proto::{Connection, Event, Instant, Role};

/// Feeds `wire` as a driver that uses direct reads would: whenever the connection offers a
/// payload buffer, it "reads" at most the next size there; otherwise it hands the next size of
/// bytes to `handle_read`. Returns the trace and how many bytes went in directly.
fn feed_direct(conn: Connection, wire: &[u8], sizes: &[usize]) -> (Vec<Out>, usize) {
    feed_direct_recycling(conn, wire, sizes, &[])
}

/// Like `feed_direct`, with ordinary reads cut to `read_limit` as ws-driver does.
fn feed_limited(conn: Connection, wire: &[u8], sizes: &[usize]) -> (Vec<Out>, usize) {
    let (trace, direct, _) = feed(conn, wire, sizes, &[], true);
    (trace, direct)
}

/// How many reads `feed_limited` takes for `wire`.
fn reads_limited(conn: Connection, wire: &[u8], sizes: &[usize]) -> usize {
    feed(conn, wire, sizes, &[], true).2
}

/// Like `feed_direct`, handing the connection a buffer of stale bytes (0xee) of the next of
/// `recycle` sizes after every step that produced output (as a driver does after a write).
fn feed_direct_recycling(
    conn: Connection,
    wire: &[u8],
    sizes: &[usize],
    recycle: &[usize],
) -> (Vec<Out>, usize) {
    let (trace, direct, _) = feed(conn, wire, sizes, recycle, false);
    (trace, direct)
}

fn feed(
    mut conn: Connection,
    wire: &[u8],
    sizes: &[usize],
    recycle: &[usize],
    limit: bool,
) -> (Vec<Out>, usize, usize) {
    let mut trace = Vec::new();
    let mut pos = 0;
    let mut direct = 0;
    let mut i = 0;
    while pos < wire.len() {
        let size = sizes[i % sizes.len()].max(1);
        i += 1;
        if let Some(buf) = conn.payload_buffer() {
            assert!(!buf.is_empty());
            let n = size.min(buf.len()).min(wire.len() - pos);
            buf[..n].copy_from_slice(&wire[pos..pos + n]);
            conn.handle_payload_read(Instant::ZERO, n);
            direct += n;
            pos += n;
        } else {
            let limit = conn.read_limit().filter(|_| limit).unwrap_or(usize::MAX);
            let n = size.min(limit).min(wire.len() - pos);
            conn.handle_read(Instant::ZERO, &wire[pos..pos + n]);
            pos += n;
        }
        let fresh = drain_into(&mut conn, &mut trace);
        if !recycle.is_empty() && !fresh.is_empty() {
            conn.recycle_buffer(vec![0xee; recycle[i % recycle.len()]]);
        }
    }
    conn.handle_eof(Instant::ZERO);
    drain_into(&mut conn, &mut trace);
    (trace, direct, i)
}

/// Large frames of every kind: binary, text (multi-byte characters cut anywhere), fragmented
/// with pings between, and a bad text message whose error lies deep inside a large frame.
fn wire_for(role: Role, bad_utf8: bool) -> Vec<u8> {
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 31 % 251) as u8).collect();
    let text = "ab€𝄞 κόσμε ".repeat(15_000);
    let mut wire = Vec::new();
    wire.extend(from_peer_of(role, OpCode::Binary, true, &big[..280_000]));
    wire.extend(from_peer_of(role, OpCode::Text, true, text.as_bytes()));
    wire.extend(from_peer_of(role, OpCode::Binary, false, &big[..20_000]));
    wire.extend(from_peer_of(role, OpCode::Ping, true, b"between"));
    wire.extend(from_peer_of(role, OpCode::Continuation, false, &big[..17]));
    wire.extend(from_peer_of(role, OpCode::Continuation, true, &big));
    wire.extend(from_peer_of(role, OpCode::Binary, true, b"small"));
    if bad_utf8 {
        let mut bad = text.as_bytes()[..270_000].to_vec();
        bad[260_001] = 0xff;
        wire.extend(from_peer_of(role, OpCode::Text, true, &bad));
    }
    wire.extend(from_peer_of(
        role,
        OpCode::Close,
        true,
        &close_payload(1000, "done"),
    ));
    wire
}

#[test]
fn large_frames_read_directly_give_the_same_trace() {
    for role in [Role::Server, Role::Client] {
        for stream in [false, true] {
            for bad_utf8 in [false, true] {
                let wire = wire_for(role, bad_utf8);
                let (expected, _) =
                    feed_direct(new_conn(role, streaming(stream)), &wire, &[wire.len()]);
                // `feed_direct` with one read of everything never reads directly: the reference.
                for sizes in [
                    &[1usize][..],
                    &[7, 4096, 3],
                    &[65_536],
                    &[1 << 20],
                    &[100, 30_000],
                ] {
                    let (got, direct) =
                        feed_direct(new_conn(role, streaming(stream)), &wire, sizes);
                    assert!(
                        got == expected,
                        "{role:?} stream {stream} bad {bad_utf8} {sizes:?}"
                    );
                    if sizes != [1 << 20] {
                        assert!(direct > 0, "{sizes:?}: no direct read happened");
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
fn reads_within_read_limit_give_the_same_trace_and_take_large_payloads_directly() {
    for role in [Role::Server, Role::Client] {
        for stream in [false, true] {
            let wire = wire_for(role, true);
            let (expected, _) =
                feed_direct(new_conn(role, streaming(stream)), &wire, &[wire.len()]);
            for sizes in [&[1usize][..], &[7, 4096, 3], &[65_536], &[100, 30_000]] {
                let (got, _) = feed_limited(new_conn(role, streaming(stream)), &wire, sizes);
                assert!(got == expected, "{role:?} {stream} {sizes:?}");
            }
        }
    }
    // Large frames back to back, read 256 KiB at a time as ws-driver does: without the limit a
    // read at a frame boundary pulls most of the next payload through the driver's buffer.
    let payload = vec![7u8; 270_000];
    let mut wire = Vec::new();
    for _ in 0..20 {
        wire.extend(masked(OpCode::Binary, true, &payload));
    }
    let total = 20 * payload.len();
    let new = || new_conn(Role::Server, no_keepalive());
    let (unlimited_trace, unlimited) = feed_direct(new(), &wire, &[262_144]);
    let (trace, direct) = feed_limited(new(), &wire, &[262_144]);
    assert!(trace == unlimited_trace);
    let binaries = events_of(&trace)
        .iter()
        .filter(|e| matches!(e, Event::Binary(_)))
        .count();
    assert_eq!(binaries, 20);
    // The first frame's first read cannot know; after it, every payload byte goes direct but
    // for the end of each frame the 256 KiB reads leave, less than the 16 KiB worth a read.
    assert!(
        direct >= 19 * (payload.len() - 16_384),
        "{direct} of {total} direct"
    );
    assert!(
        unlimited < total / 2,
        "{unlimited} of {total} direct without the limit"
    );
    // The read that completes a frame brings the next header along: one read per frame (the
    // first whole frame, then the second header alone), not a payload read and a header read.
    let reads = reads_limited(new(), &wire, &[270_000 + 14]);
    assert_eq!(reads, 21, "reads for 20 frames");
}

#[test]
fn a_direct_read_past_the_frame_end_takes_at_most_the_next_header() {
    let first = masked(OpCode::Binary, true, &[1; 300_000]);
    let ping = masked(OpCode::Ping, true, b"p");
    let second = masked(OpCode::Text, true, "é".repeat(10_000).as_bytes());
    let mut wire = [&first[..], &ping, &second].concat();
    wire.extend(masked(OpCode::Close, true, &close_payload(1000, "")));
    let mut conn = new_conn(Role::Server, no_keepalive());
    conn.handle_read(Instant::ZERO, &first[..14]);
    let mut pos = 14;
    let buf = conn.payload_buffer().expect("a window");
    assert_eq!(buf.len(), 300_000 + 14, "the payload, then one header");
    buf.copy_from_slice(&wire[pos..pos + 300_014]);
    pos += 300_014;
    conn.handle_payload_read(Instant::ZERO, 300_014);
    // The ping (7 bytes) and the start of the next header were decoded as ordinary input.
    assert_eq!(
        events_of(&drain(&mut conn)),
        [
            Event::Binary(vec![1u8; 300_000].into()),
            Event::Ping(b"p".to_vec().into())
        ]
    );
    assert_eq!(conn.receive_buffered(), 7, "a header part");
    conn.handle_read(Instant::ZERO, &wire[pos..]);
    let events = events_of(&drain(&mut conn));
    assert_eq!(events[0], Event::Text("é".repeat(10_000).into()));
    assert!(matches!(events[1], Event::CloseReceived(_)), "{events:?}");
}

#[test]
fn read_limit_is_a_header_between_large_frames_and_nothing_otherwise() {
    let mut conn = new_conn(Role::Server, no_keepalive());
    assert_eq!(conn.read_limit(), None, "nothing received yet");
    conn.handle_read(Instant::ZERO, &masked(OpCode::Binary, true, &[1; 100]));
    assert_eq!(conn.read_limit(), None, "small frames");
    // Frames of 64 KiB arrive several per read of a driver's buffer: no limit either.
    conn.handle_read(Instant::ZERO, &masked(OpCode::Binary, true, &[1; 65_536]));
    assert_eq!(conn.read_limit(), None, "medium frames");
    let large = masked(OpCode::Binary, true, &[1; 300_000]);
    conn.handle_read(Instant::ZERO, &large[..large.len() - 10]);
    assert_eq!(
        conn.read_limit(),
        Some(10 + 14),
        "the rest of the frame and a header"
    );
    conn.handle_read(Instant::ZERO, &large[large.len() - 10..]);
    assert_eq!(conn.read_limit(), Some(14), "a header");
    let ping = masked(OpCode::Ping, true, b"p");
    conn.handle_read(Instant::ZERO, &ping[..3]);
    assert_eq!(conn.read_limit(), Some(14 - 3), "the rest of a header");
    conn.handle_read(Instant::ZERO, &ping[3..]);
    assert_eq!(conn.read_limit(), Some(14), "control frames change nothing");
    conn.handle_read(Instant::ZERO, &masked(OpCode::Binary, true, &[1; 100]));
    assert_eq!(conn.read_limit(), None, "small frames again");
}

#[test]
fn no_payload_buffer_for_small_control_or_closed() {
    let mut conn = new_conn(Role::Server, no_keepalive());
    assert!(conn.payload_buffer().is_none(), "nothing under way");
    conn.handle_read(
        Instant::ZERO,
        &masked(OpCode::Binary, true, &[1; 300_000])[..1000],
    );
    assert!(conn.payload_buffer().is_some(), "a large frame under way");
    let mut small = new_conn(Role::Server, no_keepalive());
    small.handle_read(
        Instant::ZERO,
        &masked(OpCode::Binary, true, &[1; 100_000])[..100],
    );
    assert!(
        small.payload_buffer().is_none(),
        "under the direct-read minimum"
    );
    // A window that was handed out and not used changes nothing.
    let wire = masked(OpCode::Binary, true, &[5; 300_000]);
    let mut conn = new_conn(Role::Server, no_keepalive());
    conn.handle_read(Instant::ZERO, &wire[..14]);
    assert!(conn.payload_buffer().is_some());
    assert_eq!(conn.receive_buffered(), 0);
    conn.handle_read(Instant::ZERO, &wire[14..]);
    assert_eq!(
        events_of(&drain(&mut conn)),
        [Event::Binary(vec![5u8; 300_000].into())]
    );
    // After a protocol error or termination, no more reading.
    let mut conn = new_conn(Role::Server, no_keepalive());
    conn.handle_read(
        Instant::ZERO,
        &masked(OpCode::Binary, true, &[1; 300_000])[..1000],
    );
    conn.terminate();
    assert!(conn.payload_buffer().is_none());
}

#[test]
fn memory_touched_grows_with_what_arrived() {
    let mut config = no_keepalive();
    config.max_frame_size = 64 << 20;
    config.max_message_size = 64 << 20;
    let mut conn = new_conn(Role::Server, config);
    conn.handle_read(
        Instant::ZERO,
        &masked(OpCode::Binary, true, &vec![0; 60 << 20])[..14],
    );
    let mut received = 0usize;
    for step in 0..3000 {
        let buf = conn.payload_buffer().expect("a window");
        // The window never reaches past the frame's first MiB (zeroed by the allocator, which
        // touches no fresh page) or twice what arrived plus 64 KiB, whichever is larger.
        assert!(
            received + buf.len() <= (1 << 20).max(2 * received + (64 << 10)),
            "{} after {received}",
            buf.len()
        );
        let n = if step % 2 == 0 {
            1
        } else {
            buf.len().min(1000)
        };
        conn.handle_payload_read(Instant::ZERO, n);
        received += n;
        assert_eq!(conn.receive_buffered(), received);
    }
    // Reserved (not touched): at most the eager 1 MiB, or twice what arrived.
    assert!(conn.receive_allocated() <= 14 + (1 << 20).max(2 * received + (64 << 10)));
}

#[test]
fn recycled_buffers_of_stale_bytes_change_nothing() {
    for role in [Role::Server, Role::Client] {
        for stream in [false, true] {
            let wire = wire_for(role, true);
            let (expected, _) =
                feed_direct(new_conn(role, streaming(stream)), &wire, &[wire.len()]);
            for recycle in [&[1usize << 20][..], &[16_384, 300_000, 0], &[5_000_000]] {
                for sizes in [&[1usize][..], &[7, 4096, 3], &[65_536], &[100, 30_000]] {
                    let conn = new_conn(role, streaming(stream));
                    let (got, _) = feed_direct_recycling(conn, &wire, sizes, recycle);
                    assert!(got == expected, "{role:?} {stream} {recycle:?} {sizes:?}");
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_read_sizes_give_the_same_trace(
        server in any::<bool>(),
        stream in any::<bool>(),
        bad in any::<bool>(),
        sizes in prop::collection::vec(1usize..70_000, 1..6),
    ) {
        let role = if server { Role::Server } else { Role::Client };
        let wire = wire_for(role, bad);
        let (expected, _) = feed_direct(new_conn(role, streaming(stream)), &wire, &[wire.len()]);
        let (got, _) = feed_direct(new_conn(role, streaming(stream)), &wire, &sizes);
        prop_assert!(got == expected);
        let recycle = [sizes[0] * 16, 70_000];
        let conn = new_conn(role, streaming(stream));
        let (got, _) = feed_direct_recycling(conn, &wire, &sizes, &recycle);
        prop_assert!(got == expected);
        let (got, _) = feed_limited(new_conn(role, streaming(stream)), &wire, &sizes);
        prop_assert!(got == expected);
    }
}

#[test]
fn a_buffer_handed_back_after_the_next_header_arrived_receives_the_next_payload() {
    let first: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
    let second = vec![9u8; 300_000];
    let wire = [
        masked(OpCode::Binary, true, &first),
        masked(OpCode::Binary, true, &second),
    ]
    .concat();
    let mut conn = new_conn(Role::Server, no_keepalive());
    conn.handle_read(Instant::ZERO, &wire[..14]);
    let buf = conn.payload_buffer().expect("a window");
    assert_eq!(buf.len(), 300_000 + 14);
    buf.copy_from_slice(&wire[14..14 + 300_014]);
    conn.handle_payload_read(Instant::ZERO, 300_014);
    // The next header came with the payload; the application answers the message (an echo
    // written from its buffer) and the buffer comes back before the next payload arrives.
    let mut events = events_of(&drain(&mut conn));
    assert_eq!(events.len(), 1);
    let Event::Binary(message) = events.remove(0) else {
        panic!("{events:?}")
    };
    assert_eq!(message[..], first[..]);
    let returned = Vec::from(message);
    let returned_at = returned.as_ptr();
    conn.recycle_buffer(returned);
    let buf = conn.payload_buffer().expect("a window");
    assert_eq!(buf.as_ptr(), returned_at, "the same buffer, still in cache");
    let n = buf.len().min(300_000);
    buf[..n].copy_from_slice(&wire[14 + 300_014..]);
    conn.handle_payload_read(Instant::ZERO, n);
    assert_eq!(events_of(&drain(&mut conn)), [Event::Binary(second.into())]);
}
