//! Every row of the close table (DESIGN.md), byte-exact with a fixed mask, on a single connection
//! fed raw frames, with every input re-fed split at every offset.

mod common;

use common::*;
use std::time::Duration;
use ws_proto::frame::OpCode;
use ws_proto::{
    CloseCode, CloseFrame, Closed, CommandError, Config, Event, Initiator, Instant, Outcome,
    ProtocolError, Role, State,
};

fn close_frame(code: u16, reason: &str) -> CloseFrame {
    CloseFrame::new(CloseCode(code), reason)
}

#[test]
fn server_receives_close_while_open_echoes_and_releases_without_waiting_for_fin() {
    let input = masked(OpCode::Close, true, &close_payload(1000, "bye"));
    let trace = feed_split_everywhere(|| new_conn(Role::Server, no_keepalive()), &input, false);
    let frame = close_frame(1000, "bye");
    assert_eq!(
        trace,
        vec![
            Out::Event(Event::CloseReceived(frame.clone())),
            Out::Bytes(unmasked(OpCode::Close, true, &close_payload(1000, "bye"))),
            Out::ShutdownWrite,
            Out::CloseSocket,
            Out::Event(Event::Closed(Box::new(Closed {
                code: CloseCode::NORMAL,
                reason: "bye".into(),
                was_clean: true,
                initiator: Initiator::Remote,
                outcome: Outcome::Clean,
                sent: Some(frame.clone()),
                received: Some(frame),
            }))),
        ]
    );
    let (conn, _) = run_chunks(new_conn(Role::Server, no_keepalive()), &[&input], false);
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(conn.poll_timeout(), None);
}

#[test]
fn client_receives_close_while_open_echoes_and_waits_for_the_servers_fin() {
    let input = unmasked(OpCode::Close, true, &close_payload(1001, "restart"));
    let trace = feed_split_everywhere(|| new_conn(Role::Client, no_keepalive()), &input, false);
    let frame = close_frame(1001, "restart");
    assert_eq!(
        trace,
        vec![
            Out::Event(Event::CloseReceived(frame.clone())),
            Out::Bytes(masked(OpCode::Close, true, &close_payload(1001, "restart"))),
            Out::ShutdownWrite,
        ]
    );
    let (mut conn, _) = run_chunks(new_conn(Role::Client, no_keepalive()), &[&input], false);
    assert_eq!(conn.state(), State::Closing);
    assert_eq!(conn.poll_timeout(), Some(secs(2)));
    // EOF after a complete handshake: clean.
    conn.handle_eof(ms(10));
    let trace = drain(&mut conn);
    assert_eq!(trace[0], Out::CloseSocket);
    let closed = closed_of(&trace);
    assert_eq!(closed.code, CloseCode::GOING_AWAY);
    assert_eq!(closed.reason, "restart");
    assert!(closed.was_clean);
    assert_eq!(closed.initiator, Initiator::Remote);
    assert_eq!(closed.outcome, Outcome::Clean);
    assert_eq!(conn.state(), State::Closed);
}

#[test]
fn client_eof_timer_bounds_the_wait_for_the_servers_fin_and_stays_clean() {
    let mut conn = new_conn(Role::Client, no_keepalive());
    conn.handle_read(
        secs(5),
        &unmasked(OpCode::Close, true, &close_payload(1000, "")),
    );
    drain(&mut conn);
    assert_eq!(conn.poll_timeout(), Some(secs(7)));
    conn.handle_timeout(Instant::from_duration(
        Duration::from_secs(7) - Duration::from_nanos(1),
    ));
    assert_eq!(drain(&mut conn), vec![]);
    conn.handle_timeout(secs(7));
    let trace = drain(&mut conn);
    assert_eq!(trace[0], Out::CloseSocket);
    let closed = closed_of(&trace);
    assert!(closed.was_clean);
    assert_eq!(closed.outcome, Outcome::EofTimeout);
}

#[test]
fn server_close_sends_close_arms_the_timer_and_completes_on_the_echo() {
    let mut conn = new_conn(Role::Server, no_keepalive());
    conn.close(secs(1), CloseCode::NORMAL, "done").unwrap();
    assert_eq!(conn.state(), State::Closing);
    assert_eq!(conn.poll_timeout(), Some(secs(11)));
    assert_eq!(
        drain(&mut conn),
        vec![Out::Bytes(unmasked(
            OpCode::Close,
            true,
            &close_payload(1000, "done")
        ))]
    );
    let echo = masked(OpCode::Close, true, &close_payload(1000, "done"));
    let make = || {
        let mut c = new_conn(Role::Server, no_keepalive());
        c.close(secs(1), CloseCode::NORMAL, "done").unwrap();
        drain(&mut c);
        c
    };
    let trace = feed_split_everywhere(make, &echo, false);
    let frame = close_frame(1000, "done");
    assert_eq!(
        trace,
        vec![
            Out::Event(Event::CloseReceived(frame.clone())),
            Out::ShutdownWrite,
            Out::CloseSocket,
            Out::Event(Event::Closed(Box::new(Closed {
                code: CloseCode::NORMAL,
                reason: "done".into(),
                was_clean: true,
                initiator: Initiator::Local,
                outcome: Outcome::Clean,
                sent: Some(frame.clone()),
                received: Some(frame),
            }))),
        ]
    );
}

#[test]
fn client_close_completes_at_the_servers_fin_after_its_close() {
    let mut conn = new_conn(Role::Client, no_keepalive());
    conn.close(Instant::ZERO, CloseCode::NORMAL, "").unwrap();
    assert_eq!(
        drain(&mut conn),
        vec![Out::Bytes(masked(
            OpCode::Close,
            true,
            &close_payload(1000, "")
        ))]
    );
    conn.handle_read(
        ms(30),
        &unmasked(OpCode::Close, true, &close_payload(1000, "")),
    );
    assert_eq!(
        drain(&mut conn),
        vec![
            Out::Event(Event::CloseReceived(close_frame(1000, ""))),
            Out::ShutdownWrite
        ]
    );
    // The close timer was replaced by the wait-for-FIN timer.
    assert_eq!(conn.poll_timeout(), Some(ms(2030)));
    conn.handle_eof(ms(31));
    let trace = drain(&mut conn);
    let closed = closed_of(&trace);
    assert_eq!(trace[0], Out::CloseSocket);
    assert!(closed.was_clean);
    assert_eq!(closed.initiator, Initiator::Local);
    assert_eq!(closed.outcome, Outcome::Clean);
}

#[test]
fn eof_while_open_is_abnormal_1006() {
    for role in [Role::Client, Role::Server] {
        let trace = feed_split_everywhere(|| new_conn(role, no_keepalive()), &[], true);
        assert_eq!(trace[0], Out::CloseSocket);
        let closed = closed_of(&trace);
        assert_eq!(closed.code, CloseCode::ABNORMAL);
        assert!(!closed.was_clean);
        assert_eq!(closed.initiator, Initiator::Neither);
        assert_eq!(closed.outcome, Outcome::UnexpectedEof);
    }
}

#[test]
fn eof_after_our_close_without_the_peers_is_abnormal() {
    for role in [Role::Client, Role::Server] {
        let mut conn = new_conn(role, no_keepalive());
        conn.close(Instant::ZERO, CloseCode::NORMAL, "").unwrap();
        drain(&mut conn);
        conn.handle_eof(ms(5));
        let closed = closed_of(&drain(&mut conn));
        assert_eq!(closed.code, CloseCode::ABNORMAL);
        assert!(!closed.was_clean);
        assert_eq!(closed.initiator, Initiator::Local);
        assert_eq!(closed.outcome, Outcome::UnexpectedEof);
    }
}

#[test]
fn close_timer_releases_at_exactly_the_configured_time() {
    for role in [Role::Client, Role::Server] {
        let mut config = no_keepalive();
        config.close_timeout = Duration::from_millis(1500);
        let mut conn = new_conn(role, config);
        conn.close(secs(3), CloseCode::GOING_AWAY, "").unwrap();
        drain(&mut conn);
        assert_eq!(conn.poll_timeout(), Some(ms(4500)));
        conn.handle_timeout(ms(4499));
        assert_eq!(drain(&mut conn), vec![], "fired early");
        assert_eq!(conn.state(), State::Closing);
        conn.handle_timeout(ms(4500));
        let trace = drain(&mut conn);
        assert_eq!(
            trace[0],
            Out::CloseSocket,
            "no shutdown: the socket is dropped"
        );
        let closed = closed_of(&trace);
        assert_eq!(closed.code, CloseCode::ABNORMAL);
        assert!(!closed.was_clean);
        assert_eq!(closed.outcome, Outcome::CloseTimeout);
        assert_eq!(conn.state(), State::Closed);
        assert_eq!(conn.poll_timeout(), None);
    }
}

#[test]
fn server_protocol_error_sends_the_code_and_closes_at_once() {
    // An unmasked frame from a client.
    let input = unmasked(OpCode::Text, true, b"hi");
    let trace = feed_split_everywhere(|| new_conn(Role::Server, no_keepalive()), &input, false);
    let sent = close_frame(1002, "unmasked frame from client");
    assert_eq!(
        trace,
        vec![
            Out::Bytes(unmasked(
                OpCode::Close,
                true,
                &close_payload(1002, "unmasked frame from client")
            )),
            Out::ShutdownWrite,
            Out::CloseSocket,
            Out::Event(Event::Closed(Box::new(Closed {
                code: CloseCode::ABNORMAL,
                reason: String::new(),
                was_clean: false,
                initiator: Initiator::Local,
                outcome: Outcome::ProtocolError(ProtocolError::UnmaskedFrame),
                sent: Some(sent),
                received: None,
            }))),
        ]
    );
}

#[test]
fn client_protocol_error_sends_the_code_then_waits_for_the_servers_eof_bounded() {
    let input = [
        masked(OpCode::Text, true, b"masked from server"),
        unmasked(OpCode::Text, true, b"ignored"),
    ]
    .concat();
    let trace = feed_split_everywhere(|| new_conn(Role::Client, no_keepalive()), &input, true);
    assert_eq!(
        trace[0],
        Out::Bytes(masked(
            OpCode::Close,
            true,
            &close_payload(1002, "masked frame from server")
        ))
    );
    assert_eq!(trace[1], Out::CloseSocket);
    let closed = closed_of(&trace);
    assert_eq!(
        closed.outcome,
        Outcome::ProtocolError(ProtocolError::MaskedFrame)
    );
    assert!(!closed.was_clean);
    assert_eq!(trace.len(), 3, "nothing after the bad frame was delivered");

    // Without the server's EOF, the close timer ends it.
    let mut conn = new_conn(Role::Client, no_keepalive());
    conn.handle_read(secs(1), &input);
    drain(&mut conn);
    assert_eq!(conn.state(), State::Closing);
    assert_eq!(conn.poll_timeout(), Some(secs(11)));
    conn.handle_timeout(secs(11));
    let closed = closed_of(&drain(&mut conn));
    assert_eq!(
        closed.outcome,
        Outcome::ProtocolError(ProtocolError::MaskedFrame)
    );
}

#[test]
fn terminate_releases_at_once_reports_1006_and_drops_unsent_frames() {
    for role in [Role::Client, Role::Server] {
        let mut conn = new_conn(role, no_keepalive());
        conn.handle_read(
            Instant::ZERO,
            &from_peer_of(role, OpCode::Binary, true, b"kept"),
        );
        conn.send_text("never sent").unwrap();
        conn.terminate();
        assert_eq!(conn.state(), State::Closed);
        assert_eq!(conn.buffered_amount(), 0);
        let trace = drain(&mut conn);
        assert_eq!(
            trace,
            vec![
                Out::Event(Event::Binary(ws_proto::Bytes::from_static(b"kept"))),
                Out::CloseSocket,
                Out::Event(Event::Closed(Box::new(Closed {
                    code: CloseCode::ABNORMAL,
                    reason: String::new(),
                    was_clean: false,
                    initiator: Initiator::Neither,
                    outcome: Outcome::Terminated,
                    sent: None,
                    received: None,
                }))),
            ]
        );
        // Idempotent, and nothing follows Closed.
        conn.terminate();
        conn.handle_eof(secs(1));
        conn.handle_timeout(secs(100));
        conn.handle_read(secs(1), b"\x81\x00");
        assert_eq!(drain(&mut conn), vec![]);
    }
}

#[test]
fn terminate_while_closing_still_reports_1006() {
    let mut conn = new_conn(Role::Client, no_keepalive());
    conn.handle_read(
        Instant::ZERO,
        &unmasked(OpCode::Close, true, &close_payload(1000, "")),
    );
    drain(&mut conn);
    conn.terminate();
    let closed = closed_of(&drain(&mut conn));
    assert_eq!(closed.code, CloseCode::ABNORMAL);
    assert!(!closed.was_clean);
    assert_eq!(closed.initiator, Initiator::Remote);
    assert_eq!(closed.outcome, Outcome::Terminated);
}

#[test]
fn transport_error_releases_at_once() {
    let mut conn = new_conn(Role::Server, no_keepalive());
    conn.send_text("queued").unwrap();
    conn.handle_transport_error(secs(1));
    let trace = drain(&mut conn);
    assert_eq!(trace[0], Out::CloseSocket);
    let closed = closed_of(&trace);
    assert_eq!(closed.outcome, Outcome::TransportError);
    assert!(!closed.was_clean);
    assert_eq!(closed.code, CloseCode::ABNORMAL);
}

#[test]
fn messages_after_our_close_are_delivered_and_nothing_after_the_peers_close() {
    let make = || {
        let mut c = new_conn(Role::Server, no_keepalive());
        c.close(Instant::ZERO, CloseCode::NORMAL, "").unwrap();
        drain(&mut c);
        c
    };
    let input = [
        masked(OpCode::Text, true, b"in flight"),
        masked(OpCode::Binary, false, b"frag"),
        masked(OpCode::Ping, true, b"p"),
        masked(OpCode::Continuation, true, b"ment"),
        masked(OpCode::Close, true, &close_payload(1000, "")),
        masked(OpCode::Text, true, b"after close"),
    ]
    .concat();
    let trace = feed_split_everywhere(make, &input, false);
    let events = events_of(&trace);
    assert_eq!(events[0], Event::Text("in flight".into()));
    // No pong after our Close: nothing may follow a Close frame.
    assert_eq!(events[1], Event::Ping(ws_proto::Bytes::from_static(b"p")));
    assert_eq!(
        events[2],
        Event::Binary(ws_proto::Bytes::from_static(b"fragment"))
    );
    assert!(matches!(events[3], Event::CloseReceived(_)));
    assert!(matches!(events[4], Event::Closed(_)));
    assert_eq!(events.len(), 5);
    assert!(!trace.iter().any(|o| matches!(o, Out::Bytes(_))));
}

#[test]
fn close_twice_is_fine_and_bad_codes_and_reasons_are_refused() {
    let mut conn = new_conn(Role::Server, no_keepalive());
    for code in [0u16, 999, 1004, 1006, 1015, 1016, 2999, 5000] {
        assert_eq!(
            conn.close(Instant::ZERO, CloseCode(code), ""),
            Err(CommandError::InvalidCloseCode(CloseCode(code)))
        );
    }
    assert_eq!(
        conn.close(Instant::ZERO, CloseCode::NO_STATUS, "a reason needs a code"),
        Err(CommandError::InvalidCloseCode(CloseCode::NO_STATUS))
    );
    let long = "x".repeat(124);
    assert_eq!(
        conn.close(Instant::ZERO, CloseCode::NORMAL, &long),
        Err(CommandError::CloseReasonTooLong(124))
    );
    assert_eq!(conn.state(), State::Open);
    assert_eq!(drain(&mut conn), vec![], "refused commands queue nothing");
    conn.close(Instant::ZERO, CloseCode(4000), &"y".repeat(123))
        .unwrap();
    conn.close(secs(1), CloseCode::NORMAL, "again").unwrap();
    assert_eq!(drain(&mut conn).len(), 1, "one Close frame only");
    assert_eq!(conn.poll_timeout(), Some(secs(10)), "timer not re-armed");
    assert_eq!(
        conn.send_text("late"),
        Err(CommandError::NotOpen(State::Closing))
    );
    assert_eq!(
        conn.send_ping(b""),
        Err(CommandError::NotOpen(State::Closing))
    );
}

#[test]
fn empty_close_is_echoed_empty_and_reported_as_1005() {
    let input = masked(OpCode::Close, true, &[]);
    let trace = feed_split_everywhere(|| new_conn(Role::Server, no_keepalive()), &input, false);
    assert_eq!(trace[1], Out::Bytes(vec![0x88, 0x00]));
    let closed = closed_of(&trace);
    assert_eq!(closed.code, CloseCode::NO_STATUS);
    assert!(closed.was_clean);
}

#[test]
fn bad_close_payloads_fail_with_the_right_code() {
    for (payload, code, error) in [
        (vec![0x03], 1002, ProtocolError::TruncatedClosePayload),
        (
            close_payload(1005, ""),
            1002,
            ProtocolError::InvalidCloseCode(1005),
        ),
        (
            close_payload(999, ""),
            1002,
            ProtocolError::InvalidCloseCode(999),
        ),
        (
            [close_payload(1000, ""), vec![0xff]].concat(),
            1007,
            ProtocolError::InvalidCloseReason,
        ),
    ] {
        let input = masked(OpCode::Close, true, &payload);
        let trace = feed_split_everywhere(|| new_conn(Role::Server, no_keepalive()), &input, false);
        let closed = closed_of(&trace);
        assert_eq!(closed.outcome, Outcome::ProtocolError(error));
        assert_eq!(closed.sent.unwrap().code, CloseCode(code));
        assert_eq!(closed.received, None);
    }
}

#[test]
fn keepalive_pings_on_schedule_and_detects_a_silent_peer() {
    let mut config = Config::default();
    config.keepalive_interval = Some(Duration::from_secs(20));
    config.keepalive_timeout = Duration::from_secs(5);
    let mut conn = new_conn(Role::Server, config);
    assert_eq!(conn.poll_timeout(), Some(secs(20)));
    conn.handle_timeout(secs(19));
    assert_eq!(drain(&mut conn), vec![]);
    conn.handle_timeout(secs(20));
    assert_eq!(
        drain(&mut conn),
        vec![Out::Bytes(vec![0x89, 0x04, 0, 0, 0, 1])]
    );
    assert_eq!(conn.poll_timeout(), Some(secs(25)));
    // An unrelated pong does not answer the ping, but it shows the peer is alive: any bytes
    // restart the wait.
    conn.handle_read(secs(21), &masked(OpCode::Pong, true, b"other"));
    drain(&mut conn);
    assert_eq!(conn.poll_timeout(), Some(secs(26)));
    conn.handle_timeout(secs(25));
    assert_eq!(drain(&mut conn), vec![]);
    conn.handle_timeout(secs(26));
    let trace = drain(&mut conn);
    assert_eq!(
        trace[0],
        Out::Bytes(unmasked(
            OpCode::Close,
            true,
            &close_payload(1011, "keepalive ping timeout")
        ))
    );
    assert_eq!(trace[1], Out::CloseSocket, "no waiting on a dead peer");
    let closed = closed_of(&trace);
    assert_eq!(closed.outcome, Outcome::DeadPeer);
    assert_eq!(closed.code, CloseCode::ABNORMAL);
    assert!(!closed.was_clean);
    assert_eq!(closed.initiator, Initiator::Local);
}

#[test]
fn keepalive_answered_schedules_the_next_ping_an_interval_after_the_last() {
    let mut config = Config::default();
    config.keepalive_interval = Some(Duration::from_secs(20));
    config.keepalive_timeout = Duration::from_secs(5);
    let mut conn = new_conn(Role::Client, config);
    conn.handle_timeout(secs(20));
    assert_eq!(
        drain(&mut conn),
        vec![Out::Bytes(masked(OpCode::Ping, true, &[0, 0, 0, 1]))]
    );
    conn.handle_read(secs(21), &unmasked(OpCode::Pong, true, &[0, 0, 0, 1]));
    assert_eq!(
        drain(&mut conn),
        vec![Out::Event(Event::Pong(ws_proto::Bytes::from_static(&[
            0, 0, 0, 1
        ])))]
    );
    assert_eq!(conn.poll_timeout(), Some(secs(40)));
    conn.handle_timeout(secs(40));
    assert_eq!(
        drain(&mut conn),
        vec![Out::Bytes(masked(OpCode::Ping, true, &[0, 0, 0, 2]))]
    );
    assert_eq!(conn.state(), State::Open);
}

#[test]
fn zero_or_no_keepalive_interval_means_no_timer() {
    let mut config = Config::default();
    config.keepalive_interval = Some(Duration::ZERO);
    assert_eq!(new_conn(Role::Server, config).poll_timeout(), None);
    assert_eq!(new_conn(Role::Server, no_keepalive()).poll_timeout(), None);
}

#[test]
fn closed_is_emitted_exactly_once_whatever_follows() {
    let mut conn = new_conn(Role::Client, no_keepalive());
    conn.close(Instant::ZERO, CloseCode::NORMAL, "").unwrap();
    conn.handle_read(
        ms(1),
        &unmasked(OpCode::Close, true, &close_payload(1000, "")),
    );
    conn.handle_eof(ms(2));
    conn.handle_eof(ms(3));
    conn.handle_timeout(secs(1000));
    conn.terminate();
    conn.handle_transport_error(secs(1001));
    let trace = drain(&mut conn);
    closed_of(&trace);
    assert_eq!(
        trace
            .iter()
            .filter(|o| matches!(o, Out::CloseSocket))
            .count(),
        1
    );
}

#[test]
fn close_without_a_code_sends_an_empty_close_frame() {
    let mut conn = new_conn(Role::Server, no_keepalive());
    conn.close(Instant::ZERO, CloseCode::NO_STATUS, "").unwrap();
    assert_eq!(drain(&mut conn), vec![Out::Bytes(vec![0x88, 0x00])]);
    conn.handle_read(ms(1), &masked(OpCode::Close, true, &[]));
    let closed = closed_of(&drain(&mut conn));
    assert!(closed.was_clean);
    assert_eq!(closed.code, CloseCode::NO_STATUS);
}

#[test]
fn messages_before_a_bad_frame_can_still_be_answered_before_our_close() {
    // Autobahn 3.2 / 5.15 style: a message, then a bad frame, in one read. An echoing app must
    // get its echo out before the connection fails.
    for role in [Role::Server, Role::Client] {
        let mut conn = new_conn(role, no_keepalive());
        let input = [
            from_peer_of(role, OpCode::Text, true, b"Hello"),
            {
                let mut bad = from_peer_of(role, OpCode::Text, true, b"x");
                bad[0] |= 0x20;
                bad
            },
            from_peer_of(role, OpCode::Ping, true, b"never seen"),
        ]
        .concat();
        conn.handle_read(Instant::ZERO, &input);
        let mut wire = Vec::new();
        let mut events = Vec::new();
        while let Some(action) = conn.poll(&mut wire) {
            if let ws_proto::Action::Event(event) = action {
                if let Event::Text(text) = &event {
                    conn.send_text(text).unwrap();
                }
                events.push(event);
            }
        }
        conn.handle_eof(ms(1));
        while let Some(action) = conn.poll(&mut wire) {
            if let ws_proto::Action::Event(event) = action {
                events.push(event);
            }
        }
        let echo = sent_by(role, OpCode::Text, true, b"Hello");
        let close = sent_by(
            role,
            OpCode::Close,
            true,
            &close_payload(1002, "reserved bits set"),
        );
        assert_eq!(wire, [echo, close].concat(), "{role:?}");
        assert_eq!(events[0], Event::Text("Hello".into()));
        let Event::Closed(closed) = &events[1] else {
            panic!("{events:?}")
        };
        assert_eq!(
            closed.outcome,
            Outcome::ProtocolError(ProtocolError::ReservedBitsSet(0b010))
        );
        assert_eq!(events.len(), 2);
    }
}

#[test]
fn a_deferred_failure_is_applied_before_eof_and_timers() {
    let mut conn = new_conn(Role::Server, no_keepalive());
    conn.handle_read(Instant::ZERO, &unmasked(OpCode::Text, true, b"x"));
    // The driver sees EOF before polling: the protocol error still decides the outcome.
    conn.handle_eof(ms(1));
    let closed = closed_of(&drain(&mut conn));
    assert_eq!(
        closed.outcome,
        Outcome::ProtocolError(ProtocolError::UnmaskedFrame)
    );
}

#[test]
fn terminate_forgets_bytes_handed_out_but_not_written() {
    let mut conn = new_conn(Role::Server, no_keepalive());
    conn.send_binary(&[0; 100]).unwrap();
    conn.poll(&mut Vec::new());
    assert_eq!(conn.buffered_amount(), 102);
    conn.terminate();
    assert_eq!(conn.buffered_amount(), 0);
}

#[test]
fn zero_keepalive_timeout_pings_without_declaring_anyone_dead() {
    let mut config = Config::default();
    config.keepalive_interval = Some(Duration::from_secs(20));
    config.keepalive_timeout = Duration::ZERO;
    let mut conn = new_conn(Role::Server, config);
    for n in 1..=3u8 {
        let at = conn.poll_timeout().unwrap();
        assert_eq!(at, secs(20 * n as u64));
        conn.handle_timeout(at);
        assert_eq!(
            drain(&mut conn),
            vec![Out::Bytes(vec![0x89, 0x04, 0, 0, 0, n])]
        );
    }
    assert_eq!(conn.state(), State::Open);
}

#[test]
fn bytes_from_the_peer_keep_it_alive_while_its_pong_is_queued_behind_a_big_message() {
    let mut config = Config::default();
    config.keepalive_interval = Some(Duration::from_secs(20));
    config.keepalive_timeout = Duration::from_secs(5);
    let mut conn = new_conn(Role::Server, config);
    conn.handle_timeout(secs(20));
    drain(&mut conn);
    // A large frame trickles in for 30 s; its bytes push the pong deadline along.
    let frame = masked(OpCode::Binary, true, &[1; 300]);
    let mut last = secs(0);
    for (i, chunk) in frame.chunks(10).enumerate() {
        last = secs(21 + i as u64);
        conn.handle_timeout(last);
        conn.handle_read(last, chunk);
    }
    assert_eq!(last, secs(51), "31 chunks over 30 s");
    assert_eq!(conn.state(), State::Open);
    assert_eq!(conn.poll_timeout(), Some(secs(56)));
    // Then silence: dead 5 s after the last byte.
    conn.handle_timeout(secs(56));
    assert_eq!(closed_of(&drain(&mut conn)).outcome, Outcome::DeadPeer);
}
