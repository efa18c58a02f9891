//! Embedding `ws-proto` in a hand-written event loop over blocking `std::net::TcpStream`s, with no
//! async runtime: the socket's read timeout is the connection's timer.
//!
//! ```text
//! cargo run -p ws-proto --example std_loop              # a client and an echo server on loopback
//! cargo run -p ws-proto --example std_loop serve [ADDR] # an echo server (default 127.0.0.1:9001)
//! cargo run -p ws-proto --example std_loop client URL   # send a few messages to any echo server, close
//! cargo run -p ws-proto --example std_loop autobahn [ADDR] # the Autobahn client cases against a fuzzingserver
//! ```
//!
//! The first form runs the opening handshake and a few messages both ways, closes, and exits
//! non-zero unless both ends report a clean close (CI runs it as a smoke test). The second is a
//! real WebSocket echo server, a thread per connection, that any client (a browser, Node `ws`,
//! Python `websockets`, the Autobahn TestSuite) can talk to.

use std::hash::{BuildHasher, RandomState};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Duration;
use ws_proto::handshake::{Accept, ClientAction, ClientHandshake, ServerAction, ServerHandshake};
use ws_proto::{Action, Bytes, CloseCode, Closed, Config, Connection, Event, Instant, Outcome};

/// Unpredictable bytes from the standard library's randomly seeded hasher, to avoid a dependency
/// in an example. (Adapters use the operating system's RNG.)
fn random_u64() -> u64 {
    RandomState::new().hash_one(std::time::Instant::now())
}

fn masks() -> [u8; 4] {
    (random_u64() as u32).to_ne_bytes()
}

/// A socket and the clock the core is driven with.
struct Socket {
    stream: TcpStream,
    epoch: std::time::Instant,
    buf: Box<[u8]>,
}

/// What one wait on the socket produced.
enum Input<'a> {
    Bytes(&'a [u8]),
    Eof,
    Timeout,
    Error,
}

impl Socket {
    fn new(stream: TcpStream) -> Socket {
        Socket {
            stream,
            epoch: std::time::Instant::now(),
            buf: vec![0; 64 * 1024].into_boxed_slice(),
        }
    }

    fn now(&self) -> Instant {
        Instant::from_duration(self.epoch.elapsed())
    }

    /// Waits for bytes until `deadline` (the core's `poll_timeout`).
    fn wait(&mut self, deadline: Option<Instant>) -> Input<'_> {
        let timeout = deadline.map(|at| {
            at.saturating_duration_since(self.now())
                .max(Duration::from_millis(1))
        });
        if self.stream.set_read_timeout(timeout).is_err() {
            return Input::Error;
        }
        match self.stream.read(&mut self.buf) {
            Ok(0) => Input::Eof,
            Ok(n) => Input::Bytes(&self.buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Input::Timeout
            }
            Err(_) => Input::Error,
        }
    }

    /// Closes the socket, first discarding unread input so the kernel sends FIN, not RST.
    fn close(&mut self) {
        let _ = self.stream.set_nonblocking(true);
        while matches!(self.stream.read(&mut self.buf), Ok(n) if n > 0) {}
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// Runs the server's opening handshake; `None` if it did not end in an upgrade.
fn server_handshake(socket: &mut Socket) -> Option<Connection> {
    let mut hs = ServerHandshake::new(socket.now(), Config::default());
    let mut out = Vec::new();
    loop {
        while let Some(action) = hs.poll(&mut out) {
            match action {
                ServerAction::Transmit(_) => {
                    socket.stream.write_all(&out).ok()?;
                    out.clear();
                }
                ServerAction::ShutdownWrite => {
                    let _ = socket.stream.shutdown(Shutdown::Write);
                }
                ServerAction::CloseSocket => {
                    socket.close();
                    return None;
                }
                ServerAction::Request(_) if hs.is_upgrade_request() => {
                    return hs
                        .accept(socket.now(), Accept::default())
                        .ok()
                        .map(|u| u.connection);
                }
                ServerAction::Request(_) => {
                    let not_found = http::Response::builder()
                        .status(404)
                        .body(Bytes::from_static(b"WebSocket endpoint only\n"))
                        .ok()?;
                    hs.reject(not_found).ok()?;
                }
                ServerAction::Failed(e) => eprintln!("handshake failed: {e}"),
                _ => {}
            }
        }
        let now = socket.now();
        match socket.wait(hs.poll_timeout()) {
            Input::Bytes(data) => hs.handle_read(now, data),
            Input::Eof => hs.handle_eof(now),
            Input::Timeout => hs.handle_timeout(now),
            Input::Error => return None,
        }
    }
}

/// Runs the client's opening handshake against `uri`.
fn client_handshake(socket: &mut Socket, uri: &str) -> io::Result<Connection> {
    let request = ClientHandshake::request(uri).map_err(io::Error::other)?;
    let key: [u8; 16] = [random_u64().to_ne_bytes(), random_u64().to_ne_bytes()]
        .concat()
        .try_into()
        .expect("16 bytes");
    let mut hs = ClientHandshake::new(socket.now(), request, key, Config::default(), masks)
        .map_err(io::Error::other)?;
    let mut out = Vec::new();
    loop {
        while let Some(action) = hs.poll(&mut out) {
            match action {
                ClientAction::Transmit(_) => {
                    socket.stream.write_all(&out)?;
                    out.clear();
                }
                ClientAction::Open(upgrade) => return Ok(upgrade.connection),
                ClientAction::Failed(e) => return Err(io::Error::other(e)),
                _ => {}
            }
        }
        let now = socket.now();
        match socket.wait(hs.poll_timeout()) {
            Input::Bytes(data) => hs.handle_read(now, data),
            Input::Eof => hs.handle_eof(now),
            Input::Timeout => hs.handle_timeout(now),
            Input::Error => return Err(io::Error::other("read failed during the handshake")),
        }
    }
}

/// Drives an open connection until it is closed: `on_event` is the application.
fn run(
    socket: &mut Socket,
    mut conn: Connection,
    mut on_event: impl FnMut(&mut Connection, Instant, Event),
) -> Closed {
    let mut out = Vec::new();
    loop {
        // Carry out everything the core asked for; gather transmits into one write.
        while let Some(action) = conn.poll(&mut out) {
            match action {
                Action::Transmit(_) => {}
                Action::ShutdownWrite => {
                    let _ = socket.stream.write_all(&out);
                    out.clear();
                    let _ = socket.stream.shutdown(Shutdown::Write);
                }
                Action::CloseSocket => {
                    let _ = socket.stream.write_all(&out);
                    out.clear();
                    socket.close();
                }
                Action::Event(Event::Closed(closed)) => return *closed,
                Action::Event(event) => on_event(&mut conn, socket.now(), event),
                _ => {}
            }
            if out.len() >= 64 * 1024 {
                flush(socket, &mut conn, &mut out);
            }
        }
        if !out.is_empty() {
            flush(socket, &mut conn, &mut out);
            continue;
        }
        let now = socket.now();
        match socket.wait(conn.poll_timeout()) {
            Input::Bytes(data) => conn.handle_read(now, data),
            Input::Eof => conn.handle_eof(now),
            Input::Timeout => conn.handle_timeout(now),
            Input::Error => conn.handle_transport_error(now),
        }
    }
}

fn flush(socket: &mut Socket, conn: &mut Connection, out: &mut Vec<u8>) {
    match socket.stream.write_all(out) {
        Ok(()) => conn.handle_written(out.len()),
        Err(_) => conn.handle_transport_error(socket.now()),
    }
    out.clear();
}

/// The echo application: text and binary messages go back as they came.
fn echo(conn: &mut Connection, _now: Instant, event: Event) {
    // Sending fails only once the connection is closing; then there is no one to echo to.
    match event {
        Event::Text(text) => drop(conn.send_text(&text)),
        Event::Binary(data) => drop(conn.send_binary(&data)),
        _ => {}
    }
}

fn serve(addr: &str) -> io::Result<()> {
    let listener = TcpListener::bind(addr)?;
    eprintln!("echo server listening on ws://{}", listener.local_addr()?);
    for stream in listener.incoming() {
        let stream = stream?;
        let _ = stream.set_nodelay(true);
        std::thread::spawn(move || {
            let mut socket = Socket::new(stream);
            if let Some(conn) = server_handshake(&mut socket) {
                run(&mut socket, conn, echo);
            }
        });
    }
    Ok(())
}

fn check_clean(who: &str, closed: &Closed) -> io::Result<()> {
    println!("{who}: closed {closed:?}");
    if closed.was_clean && closed.outcome == Outcome::Clean {
        Ok(())
    } else {
        Err(io::Error::other(format!("{who} did not close cleanly")))
    }
}

/// A client that sends `count` messages and a Ping to an echo server at `uri`, closes after the
/// echoes, and fails unless every message came back and the close was clean.
fn echo_client(uri: &str, count: usize) -> io::Result<()> {
    let mut echoed = 0;
    let send_all = |conn: &mut Connection| {
        for i in 0..count {
            conn.send_text(&format!("hello {i}"))
                .map_err(io::Error::other)?;
        }
        conn.send_ping(b"are you there").map_err(io::Error::other)
    };
    let closed = connect(uri, send_all, |conn, now, event| {
        println!("client: {event:?}");
        if let Event::Text(_) = event {
            echoed += 1;
            if echoed == count {
                let _ = conn.close(now, CloseCode::NORMAL, "done");
            }
        }
    });
    let closed = closed?;
    check_clean("client", &closed)?;
    if echoed != count {
        return Err(io::Error::other(format!("{echoed} of {count} echoed")));
    }
    Ok(())
}

/// Both ends on loopback.
fn demo(count: usize) -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = std::thread::spawn(move || -> io::Result<()> {
        let mut socket = Socket::new(listener.accept()?.0);
        let conn = server_handshake(&mut socket)
            .ok_or_else(|| io::Error::other("server handshake failed"))?;
        check_clean("server", &run(&mut socket, conn, echo))
    });
    echo_client(&format!("ws://{addr}/demo"), count)?;
    server.join().expect("server thread")
}

/// One client connection to `uri`: `on_open` once the handshake is done, then `on_event` for
/// every event until the connection is closed.
fn connect(
    uri: &str,
    on_open: impl FnOnce(&mut Connection) -> io::Result<()>,
    on_event: impl FnMut(&mut Connection, Instant, Event),
) -> io::Result<Closed> {
    let authority = uri
        .split_once("://")
        .and_then(|(_, rest)| rest.split('/').next())
        .ok_or_else(|| io::Error::other("bad URI"))?;
    let stream = TcpStream::connect(authority)?;
    let _ = stream.set_nodelay(true);
    let mut socket = Socket::new(stream);
    let mut conn = client_handshake(&mut socket, uri)?;
    on_open(&mut conn)?;
    Ok(run(&mut socket, conn, on_event))
}

/// The Autobahn TestSuite's client protocol: ask for the case count, run every case as an echo
/// client, then ask the fuzzing server to write its reports.
fn autobahn(addr: &str) -> io::Result<()> {
    let agent = "ws-proto-std";
    let mut count = 0usize;
    let nothing = |_: &mut Connection| Ok(());
    connect(
        &format!("ws://{addr}/getCaseCount"),
        nothing,
        |_, _, event| {
            if let Event::Text(text) = event {
                count = text.trim().parse().unwrap_or(0);
            }
        },
    )?;
    for case in 1..=count {
        let uri = format!("ws://{addr}/runCase?case={case}&agent={agent}");
        if let Err(e) = connect(&uri, nothing, echo) {
            eprintln!("case {case}: {e}");
        }
    }
    connect(
        &format!("ws://{addr}/updateReports?agent={agent}"),
        nothing,
        |_, _, _| {},
    )?;
    eprintln!("ran {count} cases");
    Ok(())
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => serve(args.get(1).map_or("127.0.0.1:9001", String::as_str)),
        Some("client") => echo_client(
            args.get(1).map_or("ws://127.0.0.1:9001/", String::as_str),
            args.get(2).and_then(|n| n.parse().ok()).unwrap_or(3),
        ),
        Some("autobahn") => autobahn(args.get(1).map_or("127.0.0.1:9001", String::as_str)),
        Some(n) => demo(n.parse().map_err(io::Error::other)?),
        None => demo(3),
    }
}
