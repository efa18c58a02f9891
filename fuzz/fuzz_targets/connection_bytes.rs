//! A whole connection fed arbitrary bytes in arbitrary chunks, with EOF and timeouts.
//! Byte 0 picks the role, byte 1 the configuration; then each chunk is a length byte and data.
//! The same input is also fed whole: both must produce the same events. Control bits also make
//! a chunk go in through `payload_buffer` (direct reads) when one is offered, or be read the
//! way ws-driver reads (direct when offered, otherwise within `read_limit`, into a plain buffer
//! or into one the connection may take apart with `handle_read_buf`, as over tokio), and hand
//! the connection recycled buffers of stale bytes: none of it may change anything. Drained with
//! `poll` or as ws-driver drains (`poll_io`, then `poll_event`): the same bytes and events.
#![no_main]
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use std::time::Duration;
use ws_fuzz::{config_from, Checker};
use ws_proto::{Connection, FixedMask, Instant, Role};

fn run(role: Role, config: ws_proto::Config, chunks: &[(u8, &[u8])], split: bool) -> Checker {
    let max_message = config.max_message_size;
    let mut conn = Connection::new(role, Instant::ZERO, config, FixedMask([1, 2, 3, 4]));
    let mut checker = Checker::default();
    checker.split = split;
    let mut now = Instant::ZERO;
    for &(control, chunk) in chunks {
        let mut chunk = chunk;
        if control & 0x20 != 0 {
            if let Some(window) = conn.payload_buffer() {
                let n = chunk.len().min(window.len());
                window[..n].copy_from_slice(&chunk[..n]);
                conn.handle_payload_read(now, n);
                chunk = &chunk[n..];
            }
        }
        if control & 0x40 != 0 {
            conn.recycle_buffer(vec![0xee; (control as usize & 0x1f) << 11]);
        }
        if control & 0x80 != 0 {
            // As ws-driver reads: directly when offered, otherwise within `read_limit`.
            while !chunk.is_empty() {
                if let Some(window) = conn.payload_buffer() {
                    let n = chunk.len().min(window.len());
                    window[..n].copy_from_slice(&chunk[..n]);
                    conn.handle_payload_read(now, n);
                    chunk = &chunk[n..];
                    continue;
                }
                let limit = conn.read_limit().unwrap_or(usize::MAX);
                assert!(limit > 0, "a read limit of zero would stall a driver");
                let n = chunk.len().min(limit);
                if control & 0x10 != 0 {
                    // As ws-driver reads over tokio: into a buffer the connection may take
                    // apart (large binary messages become slices of it).
                    let mut buf = BytesMut::with_capacity(chunk.len());
                    buf.extend_from_slice(&chunk[..n]);
                    conn.handle_read_buf(now, &mut buf);
                    assert!(buf.is_empty(), "handle_read_buf left bytes behind");
                } else {
                    conn.handle_read(now, &chunk[..n]);
                }
                chunk = &chunk[n..];
            }
        }
        conn.handle_read(now, chunk);
        checker.drain(&mut conn);
        Checker::check_memory(&conn, max_message);
        match control % 16 {
            0 => {
                now = now + Duration::from_millis(control as u64);
                conn.handle_timeout(now);
                checker.drain(&mut conn);
                checker.check_timeout(&conn, now);
            }
            1 => {
                conn.handle_eof(now);
                checker.drain(&mut conn);
            }
            _ => {}
        }
    }
    conn.handle_timeout(Instant::MAX);
    checker.drain(&mut conn);
    checker
}

fuzz_target!(|data: &[u8]| {
    let [role, knobs, rest @ ..] = data else { return };
    let role = if role & 1 == 0 { Role::Client } else { Role::Server };
    let mut chunks = Vec::new();
    let mut rest = rest;
    while let [len, tail @ ..] = rest {
        let n = (*len as usize % 64).min(tail.len());
        chunks.push((*len, &tail[..n]));
        rest = &tail[n..];
    }
    let split = run(role, config_from(*knobs), &chunks, false);
    // Drained the way ws-driver drains (I/O first, events one by one): the same bytes and events.
    let driver_like = run(role, config_from(*knobs), &chunks, true);
    assert_eq!(split.events, driver_like.events, "poll_io + poll_event changed the events");
    assert_eq!(split.wire, driver_like.wire, "poll_io + poll_event changed the output");
    // Split-invariance: the events before any EOF/timeout must match one whole feed.
    let first_control = chunks.iter().position(|(c, _)| c % 16 <= 1).unwrap_or(chunks.len());
    let whole: Vec<u8> = chunks[..first_control].iter().flat_map(|(_, c)| c.iter().copied()).collect();
    let prefix: Vec<(u8, &[u8])> = chunks[..first_control].to_vec();
    let a = run(role, config_from(*knobs), &prefix, false);
    let b = run(role, config_from(*knobs), &[(2, &whole)], false);
    assert_eq!(a.events, b.events, "split feeding changed the events");
    assert_eq!(a.wire, b.wire, "split feeding changed the output");
    // The same bytes in one buffer the connection may take apart (`handle_read_buf`).
    let c = run(role, config_from(*knobs), &[(0x92, &whole)], false);
    assert_eq!(b.events, c.events, "handle_read_buf changed the events");
    assert_eq!(b.wire, c.wire, "handle_read_buf changed the output");
});
