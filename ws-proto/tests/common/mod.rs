//! Test harness: byte-exact frame builders, output traces, split-everywhere feeding, and a `Pair`
//! of connections joined by an in-memory pipe under a virtual clock.
#![allow(dead_code)]

use std::time::Duration;
use ws_proto::frame::{encode_frame, OpCode};
use ws_proto::{Action, Config, Connection, Event, FixedMask, Instant, Role};

/// The mask of RFC 6455 section 5.7's examples; every test client uses it.
pub const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

pub fn secs(s: u64) -> Instant {
    Instant::from_duration(Duration::from_secs(s))
}

pub fn ms(m: u64) -> Instant {
    Instant::from_millis(m)
}

/// A frame as a client sends it (masked with [`MASK`]).
pub fn masked(opcode: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(&mut out, fin, 0, opcode, Some(MASK), payload);
    out
}

/// A frame as a server sends it (unmasked).
pub fn unmasked(opcode: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(&mut out, fin, 0, opcode, None, payload);
    out
}

/// A Close payload.
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason.as_bytes());
    p
}

/// The frame a connection of `role` sends (masked for a client).
pub fn sent_by(role: Role, opcode: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
    match role {
        Role::Client => masked(opcode, fin, payload),
        Role::Server => unmasked(opcode, fin, payload),
    }
}

/// The frame a connection of `role` receives from its peer.
pub fn from_peer_of(role: Role, opcode: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
    match role {
        Role::Client => unmasked(opcode, fin, payload),
        Role::Server => masked(opcode, fin, payload),
    }
}

pub fn new_conn(role: Role, config: Config) -> Connection {
    Connection::new(role, Instant::ZERO, config, FixedMask(MASK))
}

pub fn no_keepalive() -> Config {
    let mut c = Config::default();
    c.keepalive_interval = None;
    c
}

/// `no_keepalive`, delivering data frames as fragments when `stream` (`stream_fragments`).
pub fn streaming(stream: bool) -> Config {
    let mut config = no_keepalive();
    config.stream_fragments = stream;
    config
}

/// One entry of an output trace; consecutive transmits are coalesced so traces compare equal
/// however the input was split.
#[derive(Clone, Debug, PartialEq)]
pub enum Out {
    Bytes(Vec<u8>),
    ShutdownWrite,
    CloseSocket,
    Event(Event),
}

/// Drains `conn` into `trace`, checking the output-order invariants as it goes; returns the new
/// outputs, uncoalesced.
pub fn drain_into(conn: &mut Connection, trace: &mut Vec<Out>) -> Vec<Out> {
    let mut fresh = Vec::new();
    loop {
        let mut buf = Vec::new();
        let Some(action) = conn.poll(&mut buf) else {
            return fresh;
        };
        let closed_before = trace
            .iter()
            .any(|o| matches!(o, Out::Event(Event::Closed(_))));
        assert!(!closed_before, "output after Closed: {action:?}");
        let socket_closed = trace.iter().any(|o| matches!(o, Out::CloseSocket));
        let write_shut = trace.iter().any(|o| matches!(o, Out::ShutdownWrite));
        match action {
            Action::Transmit(n) => {
                assert!(
                    !socket_closed && !write_shut,
                    "transmit after shutdown/close"
                );
                assert_eq!(n, buf.len());
                fresh.push(Out::Bytes(buf.clone()));
                if let Some(Out::Bytes(prev)) = trace.last_mut() {
                    prev.extend_from_slice(&buf);
                } else {
                    trace.push(Out::Bytes(buf));
                }
            }
            Action::ShutdownWrite => {
                assert!(
                    !socket_closed && !write_shut,
                    "double shutdown or after close"
                );
                trace.push(Out::ShutdownWrite);
                fresh.push(Out::ShutdownWrite);
            }
            Action::CloseSocket => {
                assert!(!socket_closed, "socket closed twice");
                trace.push(Out::CloseSocket);
                fresh.push(Out::CloseSocket);
            }
            Action::Event(event) => {
                if matches!(event, Event::Closed(_)) {
                    assert!(socket_closed, "Closed before CloseSocket");
                }
                fresh.push(Out::Event(event.clone()));
                trace.push(Out::Event(event));
            }
            other => panic!("unknown action {other:?}"),
        }
    }
}

pub fn drain(conn: &mut Connection) -> Vec<Out> {
    let mut trace = Vec::new();
    drain_into(conn, &mut trace);
    trace
}

/// Feeds `chunks` in order (draining after each), then EOF if `eof`.
pub fn run_chunks(mut conn: Connection, chunks: &[&[u8]], eof: bool) -> (Connection, Vec<Out>) {
    let mut trace = Vec::new();
    for chunk in chunks {
        conn.handle_read(Instant::ZERO, chunk);
        drain_into(&mut conn, &mut trace);
    }
    if eof {
        conn.handle_eof(Instant::ZERO);
        drain_into(&mut conn, &mut trace);
    }
    (conn, trace)
}

/// Feeds `input` whole, split at every offset (or at `max_cuts` spread offsets for long input),
/// and byte by byte; asserts every way gives the same trace and returns it.
pub fn feed_split_everywhere(make: impl Fn() -> Connection, input: &[u8], eof: bool) -> Vec<Out> {
    let (_, expected) = run_chunks(make(), &[input], eof);
    let cuts: Vec<usize> = if input.len() <= 600 {
        (0..=input.len()).collect()
    } else {
        let mut c: Vec<usize> = (0..=20).collect();
        c.extend((0..=input.len()).step_by(input.len() / 97 + 1));
        c.extend(input.len().saturating_sub(20)..=input.len());
        c
    };
    for cut in cuts {
        let (a, b) = input.split_at(cut);
        let (_, got) = run_chunks(make(), &[a, b], eof);
        assert_eq!(got, expected, "split at {cut}");
    }
    if input.len() <= 200_000 {
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        let (_, got) = run_chunks(make(), &bytes, eof);
        assert_eq!(got, expected, "byte by byte");
    }
    expected
}

/// The `Closed` event of a trace.
pub fn closed_of(trace: &[Out]) -> ws_proto::Closed {
    let mut found = trace.iter().filter_map(|o| match o {
        Out::Event(Event::Closed(c)) => Some((**c).clone()),
        _ => None,
    });
    let closed = found.next().expect("no Closed event");
    assert!(found.next().is_none(), "Closed twice");
    closed
}

pub fn events_of(trace: &[Out]) -> Vec<Event> {
    trace
        .iter()
        .filter_map(|o| match o {
            Out::Event(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

/// One direction of the in-memory transport.
#[derive(Default, Debug)]
struct Pipe {
    data: Vec<u8>,
    /// The writer shut down or closed: EOF once `data` is read.
    fin: bool,
    eof_delivered: bool,
}

/// One end of the pair: a connection, its socket's state, and everything it emitted.
pub struct End {
    pub conn: Connection,
    pub trace: Vec<Out>,
    pub socket_closed: bool,
    /// Simulates a peer that vanished: it reads nothing and its output is lost.
    pub vanished: bool,
    /// Bytes handed to `handle_read` per call (0: all available at once).
    pub read_chunk: usize,
}

impl End {
    pub fn events(&self) -> Vec<Event> {
        events_of(&self.trace)
    }

    pub fn closed(&self) -> ws_proto::Closed {
        closed_of(&self.trace)
    }
}

/// Two connections joined by an in-memory TCP-like pipe, under a virtual clock that jumps to the
/// earliest `poll_timeout()`.
pub struct Pair {
    pub client: End,
    pub server: End,
    pub now: Instant,
    c2s: Pipe,
    s2c: Pipe,
}

impl Pair {
    pub fn new(client_config: Config, server_config: Config) -> Pair {
        let end = |role, config| End {
            conn: new_conn(role, config),
            trace: Vec::new(),
            socket_closed: false,
            vanished: false,
            read_chunk: 0,
        };
        Pair {
            client: end(Role::Client, client_config),
            server: end(Role::Server, server_config),
            now: Instant::ZERO,
            c2s: Pipe::default(),
            s2c: Pipe::default(),
        }
    }

    pub fn default_configs() -> Pair {
        Pair::new(Config::default(), Config::default())
    }

    /// Moves one end's output into its outgoing pipe. Returns whether anything happened.
    fn flush(end: &mut End, pipe: &mut Pipe) -> bool {
        let fresh = drain_into(&mut end.conn, &mut end.trace);
        for out in &fresh {
            match out {
                Out::Bytes(b) if !end.vanished => pipe.data.extend_from_slice(b),
                Out::ShutdownWrite if !end.vanished => pipe.fin = true,
                Out::CloseSocket => {
                    end.socket_closed = true;
                    if !end.vanished {
                        pipe.fin = true;
                    }
                }
                _ => {}
            }
        }
        !fresh.is_empty()
    }

    /// Delivers pending bytes (and EOF) from `pipe` to `end`. Returns whether anything happened.
    fn deliver(now: Instant, end: &mut End, pipe: &mut Pipe) -> bool {
        if end.socket_closed || end.vanished {
            return false;
        }
        if !pipe.data.is_empty() {
            let data = std::mem::take(&mut pipe.data);
            if end.read_chunk == 0 {
                end.conn.handle_read(now, &data);
            } else {
                for chunk in data.chunks(end.read_chunk) {
                    end.conn.handle_read(now, chunk);
                }
            }
            return true;
        }
        if pipe.fin && !pipe.eof_delivered {
            pipe.eof_delivered = true;
            end.conn.handle_eof(now);
            return true;
        }
        false
    }

    /// Runs both ends until nothing moves at the current time.
    pub fn run(&mut self) {
        loop {
            let mut progressed = false;
            progressed |= Pair::flush(&mut self.client, &mut self.c2s);
            progressed |= Pair::flush(&mut self.server, &mut self.s2c);
            progressed |= Pair::deliver(self.now, &mut self.server, &mut self.c2s);
            progressed |= Pair::deliver(self.now, &mut self.client, &mut self.s2c);
            if !progressed {
                return;
            }
        }
    }

    /// The earliest timer of either end.
    pub fn next_timeout(&self) -> Option<Instant> {
        [&self.client, &self.server]
            .iter()
            .filter(|e| !e.socket_closed)
            .filter_map(|e| e.conn.poll_timeout())
            .min()
    }

    /// Jumps the clock to the earliest timer and fires it. Returns false if no timer runs.
    pub fn advance(&mut self) -> bool {
        let Some(at) = self.next_timeout() else {
            return false;
        };
        assert!(at >= self.now, "timer in the past: {at:?} < {:?}", self.now);
        self.now = at;
        for end in [&mut self.client, &mut self.server] {
            if !end.socket_closed {
                end.conn.handle_timeout(at);
                if let Some(next) = end.conn.poll_timeout() {
                    assert!(
                        next > at,
                        "poll_timeout {next:?} not after handle_timeout({at:?})"
                    );
                }
            }
        }
        self.run();
        true
    }

    /// Runs, advancing time, until both sockets are closed (or no timer is left).
    pub fn run_to_end(&mut self) {
        self.run();
        while !(self.client.socket_closed && self.server.socket_closed) {
            if !self.advance() {
                break;
            }
        }
    }
}
