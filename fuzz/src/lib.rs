//! Invariants every fuzz target checks, not only "no panic".

use ws_proto::{Action, Connection, Event, Instant, State};

/// Watches one connection's outputs and state across a run.
#[derive(Default)]
pub struct Checker {
    closed_seen: bool,
    socket_closed: bool,
    write_shut: bool,
    last_state: Option<State>,
    /// Bytes the connection transmitted (for feeding a peer).
    pub wire: Vec<u8>,
    /// Events seen, for targets that compare.
    pub events: Vec<Event>,
    /// Drain as ws-driver does: `poll_io`, then the application's events with `poll_event`
    /// (instead of everything in order with `poll`).
    pub split: bool,
}

impl Checker {
    /// Drains every action, asserting the output-order invariants:
    /// `Closed` at most once and only after `CloseSocket`; nothing after `CloseSocket` but
    /// `Closed`; no `Transmit` after `ShutdownWrite`; nothing at all after `Closed`.
    pub fn drain(&mut self, conn: &mut Connection) {
        if self.split {
            return self.drain_split(conn);
        }
        let mut buf = Vec::new();
        while let Some(action) = conn.poll(&mut buf) {
            if let Some(event) = self.record_io(action, &mut buf) {
                assert!(!self.socket_closed, "event after CloseSocket: {event:?}");
                self.events.push(event);
            }
        }
        self.check_state(conn);
    }

    /// Checks and records one action other than an application event, which it returns.
    fn record_io(&mut self, action: Action, buf: &mut Vec<u8>) -> Option<Event> {
        assert!(!self.closed_seen, "output after Closed: {action:?}");
        match action {
            Action::Transmit(n) => {
                assert!(!self.socket_closed, "transmit after CloseSocket");
                assert!(!self.write_shut, "transmit after ShutdownWrite");
                assert_eq!(n, buf.len());
                self.wire.extend_from_slice(buf);
                buf.clear();
            }
            Action::ShutdownWrite => {
                assert!(!self.socket_closed && !self.write_shut);
                self.write_shut = true;
            }
            Action::CloseSocket => {
                assert!(!self.socket_closed, "CloseSocket twice");
                self.socket_closed = true;
            }
            Action::Event(Event::Closed(_)) => {
                assert!(self.socket_closed, "Closed before CloseSocket");
                self.closed_seen = true;
            }
            Action::Event(event) => return Some(event),
            _ => {}
        }
        None
    }

    /// [`Self::drain`] the way ws-driver reads: everything `poll_io` has, then the next event,
    /// until both are empty. The same invariants, except that events may be taken after
    /// `CloseSocket` (they were queued before it); `poll_io` never hands out an application
    /// event, `poll_event` never `Closed`, and `queued_events` counts what `poll_event` yields.
    fn drain_split(&mut self, conn: &mut Connection) {
        let mut buf = Vec::new();
        loop {
            while let Some(action) = conn.poll_io(&mut buf) {
                if let Some(event) = self.record_io(action, &mut buf) {
                    panic!("poll_io handed out an application event: {event:?}");
                }
            }
            let queued = conn.queued_events();
            let Some(event) = conn.poll_event() else {
                assert_eq!(queued, 0, "queued events poll_event does not hand out");
                break;
            };
            assert_eq!(conn.queued_events() + 1, queued);
            assert!(!matches!(event, Event::Closed(_)), "Closed from poll_event");
            self.events.push(event);
        }
        self.check_state(conn);
    }

    /// State only moves forward; Closed exactly when `Closed` was emitted (once drained).
    pub fn check_state(&mut self, conn: &Connection) {
        let state = conn.state();
        if let Some(last) = self.last_state {
            assert!(state >= last, "state went back from {last:?} to {state:?}");
        }
        assert_eq!(
            state == State::Closed,
            self.closed_seen,
            "Closed event vs state"
        );
        self.last_state = Some(state);
    }

    /// After `handle_timeout(now)`, the next deadline is not in the past (timers are nonzero).
    pub fn check_timeout(&self, conn: &Connection, now: Instant) {
        if let Some(next) = conn.poll_timeout() {
            assert!(
                next > now,
                "poll_timeout {next:?} not after handle_timeout({now:?})"
            );
        }
    }

    /// Memory held for input stays within the limits: one header, one control frame, one message.
    pub fn check_memory(conn: &Connection, max_message: usize) {
        assert!(conn.receive_buffered() <= 14 + 125 + max_message);
    }

    /// Whether the connection has released its socket.
    pub fn is_closed(&self) -> bool {
        self.closed_seen
    }
}

/// A small configuration chosen by one fuzz byte: limits small enough to be hit, timers nonzero.
pub fn config_from(byte: u8) -> ws_proto::Config {
    let mut config = ws_proto::Config::default();
    config.max_frame_size = 64 + (byte as usize & 0x0f) * 64;
    config.max_message_size = config.max_frame_size * 4;
    config.stream_fragments = byte & 0x10 != 0;
    config.auto_pong = byte & 0x20 == 0;
    config.keepalive_interval = (byte & 0x40 != 0).then(|| std::time::Duration::from_millis(50));
    config.keepalive_timeout = std::time::Duration::from_millis(30);
    config.close_timeout = std::time::Duration::from_millis(100);
    config.client_eof_timeout = std::time::Duration::from_millis(20);
    config
}
