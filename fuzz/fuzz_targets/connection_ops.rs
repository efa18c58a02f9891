//! Arbitrary sequences of operations on a client and a server joined by a pipe: reads (whole or
//! partial delivery), EOF, time passing, sends, fragments, pings, close, terminate, and garbage
//! injected into either direction. Invariants are checked on both ends after every step.
#![no_main]
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use std::time::Duration;
use ws_fuzz::{config_from, Checker};
use ws_proto::{CloseCode, Connection, FixedMask, Instant, MessageKind, Role};

#[derive(Arbitrary, Debug)]
enum Op {
    /// Deliver up to `n` pending bytes to the server (true) or the client (false).
    Deliver(bool, u16),
    /// Deliver EOF to one side if its peer shut down.
    Eof(bool),
    /// Advance time by this many milliseconds and fire timers.
    Advance(u8),
    SendText(bool, String),
    SendBinary(bool, Vec<u8>),
    SendFragment(bool, bool, Vec<u8>, bool),
    Ping(bool, Vec<u8>),
    Close(bool, u16, String),
    Terminate(bool),
    Garbage(bool, Vec<u8>),
}

struct End {
    conn: Connection,
    checker: Checker,
    /// Bytes of `checker.wire` already delivered to the peer.
    sent: usize,
    max_message: usize,
}

impl End {
    fn new(role: Role, knobs: u8) -> End {
        let config = config_from(knobs);
        let max_message = config.max_message_size;
        End {
            conn: Connection::new(role, Instant::ZERO, config, FixedMask([9, 8, 7, 6])),
            checker: Checker::default(),
            sent: 0,
            max_message,
        }
    }

    fn settle(&mut self) {
        self.checker.drain(&mut self.conn);
        Checker::check_memory(&self.conn, self.max_message);
    }
}

fuzz_target!(|input: (u8, u8, Vec<Op>)| {
    let (client_knobs, server_knobs, ops) = input;
    let mut ends = [End::new(Role::Client, client_knobs), End::new(Role::Server, server_knobs)];
    let mut now = Instant::ZERO;
    for op in ops.into_iter().take(200) {
        let idx = |to_server: bool| usize::from(to_server);
        match op {
            Op::Deliver(to_server, n) => {
                let (to, from) = (idx(to_server), 1 - idx(to_server));
                let start = ends[from].sent;
                let end = (start + n as usize).min(ends[from].checker.wire.len());
                let bytes = ends[from].checker.wire[start..end].to_vec();
                ends[from].sent = end;
                ends[to].conn.handle_read(now, &bytes);
            }
            Op::Eof(to_server) => ends[idx(to_server)].conn.handle_eof(now),
            Op::Advance(ms) => {
                now = now + Duration::from_millis(ms as u64);
                for end in &mut ends {
                    end.conn.handle_timeout(now);
                    end.settle();
                    end.checker.check_timeout(&end.conn, now);
                }
            }
            Op::SendText(s, text) => { let _ = ends[idx(s)].conn.send_text(&text); }
            Op::SendBinary(s, data) => { let _ = ends[idx(s)].conn.send_binary(&data); }
            Op::SendFragment(s, text, data, fin) => {
                let kind = if text { MessageKind::Text } else { MessageKind::Binary };
                let _ = ends[idx(s)].conn.send_fragment(kind, &data, fin);
            }
            Op::Ping(s, data) => { let _ = ends[idx(s)].conn.send_ping(&data); }
            Op::Close(s, code, reason) => { let _ = ends[idx(s)].conn.close(now, CloseCode(code), &reason); }
            Op::Terminate(s) => ends[idx(s)].conn.terminate(),
            Op::Garbage(to_server, bytes) => ends[idx(to_server)].conn.handle_read(now, &bytes),
        }
        for end in &mut ends {
            end.settle();
        }
    }
});
