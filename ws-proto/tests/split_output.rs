//! The output read two ways: `poll_io` + `poll_event` (a driver that hands events over when the
//! application asks, and keeps no queue of its own) against `poll` (everything in order). Both
//! must give the same bytes, socket actions and events, each in the same order; `Closed` comes
//! from `poll_io` only after `CloseSocket`, and a deferred failure's Close only once the
//! application took the events before it.

mod common;

use common::*;
use ws_proto::frame::OpCode;
use ws_proto::{Action, Connection, Event, Instant, Role};

/// What `poll_io` yielded (bytes coalesced), and the events `poll_event` yielded, in order.
#[derive(Default, Debug, PartialEq)]
struct Split {
    io: Vec<Out>,
    events: Vec<Event>,
}

/// Drains like a driver whose application reads one event at a time: everything `poll_io` has,
/// then one event, again until both are empty.
fn drain_split(conn: &mut Connection, into: &mut Split) {
    loop {
        loop {
            let mut buf = Vec::new();
            let has_io = conn.has_io();
            let Some(action) = conn.poll_io(&mut buf) else {
                // Nothing but events (and no failure behind them) left: `has_io` says so.
                if !conn.failure_pending() {
                    assert!(!conn.has_io(), "has_io with nothing for poll_io");
                }
                break;
            };
            assert!(has_io, "poll_io had something has_io denied: {action:?}");
            let socket_closed = into.io.contains(&Out::CloseSocket);
            match action {
                Action::Transmit(n) => {
                    assert_eq!(n, buf.len());
                    assert!(!socket_closed, "bytes after CloseSocket");
                    push_bytes(&mut into.io, buf);
                }
                Action::ShutdownWrite => into.io.push(Out::ShutdownWrite),
                Action::CloseSocket => into.io.push(Out::CloseSocket),
                Action::Event(event) => {
                    assert!(
                        matches!(event, Event::Closed(_)),
                        "poll_io handed out an application event: {event:?}"
                    );
                    assert!(socket_closed, "Closed before CloseSocket");
                    into.io.push(Out::Event(event));
                }
                other => panic!("unknown action {other:?}"),
            }
        }
        let queued = conn.queued_events();
        let Some(event) = conn.poll_event() else {
            assert_eq!(queued, 0, "events queued that poll_event does not hand out");
            return;
        };
        assert_eq!(conn.queued_events(), queued - 1);
        assert!(!matches!(event, Event::Closed(_)), "Closed from poll_event");
        into.events.push(event);
    }
}

fn push_bytes(io: &mut Vec<Out>, bytes: Vec<u8>) {
    if let Some(Out::Bytes(prev)) = io.last_mut() {
        prev.extend_from_slice(&bytes);
    } else {
        io.push(Out::Bytes(bytes));
    }
}

/// `poll`'s trace cut into the same two parts.
fn split_reference(trace: Vec<Out>) -> Split {
    let mut split = Split::default();
    for out in trace {
        match out {
            Out::Bytes(bytes) => push_bytes(&mut split.io, bytes),
            Out::Event(event @ Event::Closed(_)) => split.io.push(Out::Event(event)),
            Out::Event(event) => split.events.push(event),
            other => split.io.push(other),
        }
    }
    split
}

fn run_split(role: Role, chunks: &[&[u8]], eof: bool) -> Split {
    let mut conn = new_conn(role, no_keepalive());
    let mut split = Split::default();
    for chunk in chunks {
        conn.handle_read(Instant::ZERO, chunk);
        drain_split(&mut conn, &mut split);
    }
    if eof {
        conn.handle_eof(Instant::ZERO);
        drain_split(&mut conn, &mut split);
    }
    split
}

fn frames(role: Role, list: &[(OpCode, bool, &[u8])]) -> Vec<u8> {
    list.iter()
        .flat_map(|&(op, fin, payload)| from_peer_of(role, op, fin, payload))
        .collect()
}

#[test]
fn both_ways_give_the_same_output_whole_or_byte_by_byte() {
    let close = close_payload(1000, "bye");
    let mut bad_rsv = from_peer_of(Role::Server, OpCode::Text, true, b"x");
    bad_rsv[0] |= 0x40;
    let scenarios: Vec<(&str, Vec<u8>)> = vec![
        (
            "messages around a Ping",
            frames(
                Role::Server,
                &[
                    (OpCode::Text, true, b"a"),
                    (OpCode::Ping, true, b"p"),
                    (OpCode::Binary, true, b"b"),
                ],
            ),
        ),
        ("a message, then a frame with a reserved bit", {
            let mut v = frames(Role::Server, &[(OpCode::Text, true, b"a")]);
            v.extend_from_slice(&bad_rsv);
            v
        }),
        (
            "a message, then invalid UTF-8",
            frames(
                Role::Server,
                &[(OpCode::Text, true, b"a"), (OpCode::Text, true, b"\xff")],
            ),
        ),
        (
            "a fragmented message with a Ping inside, then the peer's Close",
            frames(
                Role::Server,
                &[
                    (OpCode::Text, false, b"he"),
                    (OpCode::Ping, true, b"p"),
                    (OpCode::Continuation, true, b"llo"),
                    (OpCode::Close, true, &close),
                    (OpCode::Text, true, b"ignored"),
                ],
            ),
        ),
        (
            "only the peer's Close",
            frames(Role::Server, &[(OpCode::Close, true, &close)]),
        ),
    ];
    for (name, input) in &scenarios {
        for eof in [false, true] {
            let (_, trace) = run_chunks(new_conn(Role::Server, no_keepalive()), &[input], eof);
            let expected = split_reference(trace);
            assert_eq!(
                run_split(Role::Server, &[input], eof),
                expected,
                "{name}, whole"
            );
            let bytes: Vec<&[u8]> = input.chunks(1).collect();
            assert_eq!(
                run_split(Role::Server, &bytes, eof),
                expected,
                "{name}, byte by byte"
            );
        }
    }
    // A client too: it waits for the server's EOF after the close handshake.
    let input = frames(
        Role::Client,
        &[(OpCode::Binary, true, b"m"), (OpCode::Close, true, &close)],
    );
    let (_, trace) = run_chunks(new_conn(Role::Client, no_keepalive()), &[&input], true);
    assert_eq!(
        run_split(Role::Client, &[&input], true),
        split_reference(trace)
    );
}

#[test]
fn bytes_behind_unread_events_go_out_first() {
    let mut conn = new_conn(Role::Server, no_keepalive());
    let input = frames(
        Role::Server,
        &[(OpCode::Text, true, b"a"), (OpCode::Ping, true, b"p")],
    );
    conn.handle_read(Instant::ZERO, &input);
    let mut buf = Vec::new();
    assert!(matches!(conn.poll_io(&mut buf), Some(Action::Transmit(_))));
    assert_eq!(
        buf,
        unmasked(OpCode::Pong, true, b"p"),
        "the Pong, not held"
    );
    assert!(conn.poll_io(&mut buf).is_none());
    assert_eq!(conn.queued_events(), 2);
    assert!(matches!(conn.poll_event(), Some(Event::Text(t)) if t == "a"));
    assert!(matches!(conn.poll_event(), Some(Event::Ping(p)) if p.as_ref() == b"p"));
    assert!(conn.poll_event().is_none());
}

#[test]
fn a_deferred_failure_waits_for_the_events_before_it_and_answers_go_first() {
    let mut conn = new_conn(Role::Server, no_keepalive());
    let mut input = frames(Role::Server, &[(OpCode::Text, true, b"a")]);
    let mut bad = from_peer_of(Role::Server, OpCode::Text, true, b"x");
    bad[0] |= 0x40;
    input.extend_from_slice(&bad);
    conn.handle_read(Instant::ZERO, &input);
    let mut buf = Vec::new();
    assert!(
        conn.poll_io(&mut buf).is_none(),
        "the Close waits for the message"
    );
    assert!(buf.is_empty());
    assert!(matches!(conn.poll_event(), Some(Event::Text(t)) if t == "a"));
    // The application answers before the failure is applied: the answer goes first.
    conn.send_text("echo").unwrap();
    let mut out = Vec::new();
    let mut actions = Vec::new();
    while let Some(action) = conn.poll_io(&mut out) {
        actions.push(action);
    }
    let answer = unmasked(OpCode::Text, true, b"echo");
    assert_eq!(&out[..answer.len()], &answer[..]);
    assert_eq!(out[answer.len()], 0x88, "then our Close");
    assert!(actions.contains(&Action::CloseSocket));
    assert!(
        matches!(actions.last(), Some(Action::Event(Event::Closed(c)))
            if c.sent.as_ref().is_some_and(|f| f.code.0 == 1002)),
        "{actions:?}"
    );
}
