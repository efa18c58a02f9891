//! Two connections joined by an in-memory pipe under a virtual clock: every close path end to
//! end, with reads whole, byte by byte and in 7-byte chunks.

mod common;

use common::*;
use std::time::Duration;
use ws_proto::{Bytes, CloseCode, Config, Event, Initiator, Instant, Outcome, State};

const CHUNKINGS: [usize; 3] = [0, 1, 7];

fn pair(chunk: usize) -> Pair {
    let mut p = Pair::new(no_keepalive(), no_keepalive());
    p.client.read_chunk = chunk;
    p.server.read_chunk = chunk;
    p
}

#[test]
fn client_initiated_close_is_clean_and_takes_no_time() {
    for chunk in CHUNKINGS {
        let mut p = pair(chunk);
        for i in 0..50 {
            p.client.conn.send_text(&format!("message {i}")).unwrap();
        }
        p.client
            .conn
            .close(p.now, CloseCode::NORMAL, "bye")
            .unwrap();
        p.run_to_end();
        assert_eq!(p.now, Instant::ZERO, "no timer needed to finish");
        let server_events = p.server.events();
        for (i, event) in server_events.iter().take(50).enumerate() {
            assert_eq!(*event, Event::Text(format!("message {i}").into()));
        }
        assert!(matches!(server_events[50], Event::CloseReceived(_)));
        let (c, s) = (p.client.closed(), p.server.closed());
        assert!(c.was_clean && s.was_clean);
        assert_eq!(
            (c.initiator, s.initiator),
            (Initiator::Local, Initiator::Remote)
        );
        assert_eq!((c.outcome, s.outcome), (Outcome::Clean, Outcome::Clean));
        assert_eq!((c.code, s.code), (CloseCode::NORMAL, CloseCode::NORMAL));
        assert_eq!(s.reason, "bye");
        assert_eq!(p.client.conn.state(), State::Closed);
        assert_eq!(p.server.conn.state(), State::Closed);
    }
}

#[test]
fn server_initiated_close_is_clean_and_the_server_never_waits_for_the_clients_fin() {
    for chunk in CHUNKINGS {
        let mut p = pair(chunk);
        p.server.conn.send_binary(b"last words").unwrap();
        p.server
            .conn
            .close(p.now, CloseCode::GOING_AWAY, "shutdown")
            .unwrap();
        p.run_to_end();
        assert_eq!(p.now, Instant::ZERO);
        assert_eq!(
            p.client.events()[0],
            Event::Binary(Bytes::from_static(b"last words"))
        );
        let (c, s) = (p.client.closed(), p.server.closed());
        assert!(c.was_clean && s.was_clean);
        assert_eq!(
            (c.initiator, s.initiator),
            (Initiator::Remote, Initiator::Local)
        );
        assert_eq!(c.code, CloseCode::GOING_AWAY);
        // The server released on the client's Close, before the client's FIN could arrive:
        // its trace has no EOF-driven step, and it ends with ShutdownWrite, CloseSocket, Closed.
        let tail: Vec<_> = p.server.trace.iter().rev().take(3).rev().cloned().collect();
        assert!(matches!(tail[0], Out::ShutdownWrite));
        assert!(matches!(tail[1], Out::CloseSocket));
    }
}

#[test]
fn simultaneous_close_is_clean_on_both_sides() {
    for chunk in CHUNKINGS {
        let mut p = pair(chunk);
        p.client.conn.close(p.now, CloseCode::NORMAL, "c").unwrap();
        p.server.conn.close(p.now, CloseCode(4000), "s").unwrap();
        p.run_to_end();
        assert_eq!(p.now, Instant::ZERO);
        let (c, s) = (p.client.closed(), p.server.closed());
        assert!(c.was_clean && s.was_clean);
        assert_eq!(
            (c.initiator, s.initiator),
            (Initiator::Local, Initiator::Local)
        );
        assert_eq!(c.code, CloseCode(4000));
        assert_eq!(s.code, CloseCode::NORMAL);
    }
}

#[test]
fn terminate_is_seen_by_the_peer_as_abnormal_1006() {
    for chunk in CHUNKINGS {
        let mut p = pair(chunk);
        p.client.conn.send_text("lost").unwrap();
        p.client.conn.terminate();
        p.run_to_end();
        assert_eq!(p.client.closed().outcome, Outcome::Terminated);
        let s = p.server.closed();
        assert_eq!(s.code, CloseCode::ABNORMAL);
        assert_eq!(s.outcome, Outcome::UnexpectedEof);
        assert!(!s.was_clean);
        assert_eq!(p.server.events().len(), 1, "the unsent message was dropped");
    }
}

#[test]
fn a_peer_that_never_answers_close_is_released_at_the_close_timeout() {
    let mut p = pair(0);
    p.client.vanished = true;
    p.server.conn.close(p.now, CloseCode::NORMAL, "").unwrap();
    p.run_to_end();
    assert_eq!(p.now, Instant::from_duration(Duration::from_secs(10)));
    let s = p.server.closed();
    assert_eq!(s.outcome, Outcome::CloseTimeout);
    assert!(!s.was_clean);
}

#[test]
fn keepalive_detects_a_vanished_peer_within_interval_plus_timeout() {
    let mut server_config = Config::default();
    server_config.keepalive_interval = Some(Duration::from_secs(15));
    server_config.keepalive_timeout = Duration::from_secs(5);
    let mut p = Pair::new(no_keepalive(), server_config);
    p.client.vanished = true;
    p.run_to_end();
    assert_eq!(p.now, Instant::from_duration(Duration::from_secs(20)));
    let s = p.server.closed();
    assert_eq!(s.outcome, Outcome::DeadPeer);
    assert_eq!(s.code, CloseCode::ABNORMAL);
}

#[test]
fn keepalive_between_live_peers_keeps_the_connection_open() {
    let mut p = Pair::default_configs();
    while p.now < Instant::from_duration(Duration::from_secs(300)) {
        assert!(p.advance());
    }
    assert_eq!(p.client.conn.state(), State::Open);
    assert_eq!(p.server.conn.state(), State::Open);
    let pongs = p
        .client
        .events()
        .iter()
        .filter(|e| matches!(e, Event::Pong(_)))
        .count();
    assert!(
        pongs >= 14,
        "client got {pongs} pongs in 300 s at 20 s intervals"
    );
    // Then a normal close still works with keepalive running.
    p.client.conn.close(p.now, CloseCode::NORMAL, "").unwrap();
    let before = p.now;
    p.run_to_end();
    assert_eq!(p.now, before);
    assert!(p.client.closed().was_clean && p.server.closed().was_clean);
}

#[test]
fn protocol_error_through_the_pipe_is_reported_on_both_sides() {
    let mut server_config = no_keepalive();
    server_config.max_message_size = 100;
    let mut p = Pair::new(no_keepalive(), server_config);
    p.client.conn.send_binary(&[0; 101]).unwrap();
    p.run_to_end();
    let s = p.server.closed();
    assert!(matches!(s.outcome, Outcome::ProtocolError(_)));
    let c = p.client.closed();
    // The client got the server's 1009 Close and echoed it; the server had already gone, so the
    // client saw its FIN right after: a completed handshake from the client's point of view.
    assert_eq!(c.code, CloseCode::MESSAGE_TOO_BIG);
    assert_eq!(c.initiator, Initiator::Remote);
    assert_eq!(p.now, Instant::ZERO);
}
