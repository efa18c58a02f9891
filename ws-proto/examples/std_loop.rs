//! Embedding `ws-proto` in a hand-written event loop over blocking `std::net::TcpStream`s, with no
//! async runtime: the socket's read timeout is the connection's timer.
//!
//! A server thread echoes messages; the client sends a few, closes, and both print how the
//! connection ended. Both ends start in the Open state directly ("bring your own handshake"); the
//! HTTP upgrade is a separate sans-IO machine.
//!
//! ```text
//! cargo run -p ws-proto --example std_loop [MESSAGES]
//! ```

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Duration;
use ws_proto::{Action, CloseCode, Config, Connection, Event, Instant, Role};

/// One connection and its socket: feeds the core and carries out its actions.
struct Driver {
    conn: Connection,
    stream: TcpStream,
    epoch: std::time::Instant,
    out: Vec<u8>,
    socket_closed: bool,
}

impl Driver {
    fn new(stream: TcpStream, role: Role) -> Driver {
        let epoch = std::time::Instant::now();
        // Masks must be unpredictable on a real network; this example derives them from the
        // standard library's randomly seeded hasher to avoid a dependency.
        let masks = || {
            use std::hash::{BuildHasher, RandomState};
            (RandomState::new().hash_one(std::time::Instant::now()) as u32).to_ne_bytes()
        };
        Driver {
            conn: Connection::new(role, Instant::ZERO, Config::default(), masks),
            stream,
            epoch,
            out: Vec::new(),
            socket_closed: false,
        }
    }

    fn now(&self) -> Instant {
        Instant::from_duration(self.epoch.elapsed())
    }

    /// Carries out every pending action; returns the events for the application.
    fn flush(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        while let Some(action) = self.conn.poll(&mut self.out) {
            match action {
                Action::Transmit(_) => {
                    if let Err(e) = self.stream.write_all(&self.out) {
                        eprintln!("write failed: {e}");
                        self.conn.handle_transport_error(self.now());
                    } else {
                        self.conn.handle_written(self.out.len());
                    }
                    self.out.clear();
                }
                Action::ShutdownWrite => {
                    let _ = self.stream.shutdown(Shutdown::Write);
                }
                Action::CloseSocket => {
                    let _ = self.stream.shutdown(Shutdown::Both);
                    self.socket_closed = true;
                }
                Action::Event(event) => events.push(event),
                _ => {}
            }
        }
        events
    }

    /// Waits for input or the next timer, and feeds what happened to the core.
    fn step(&mut self) -> io::Result<()> {
        let timeout = self.conn.poll_timeout().map(|at| {
            at.saturating_duration_since(self.now())
                .max(Duration::from_millis(1))
        });
        self.stream.set_read_timeout(timeout)?;
        let mut buf = [0u8; 16 * 1024];
        match self.stream.read(&mut buf) {
            Ok(0) => self.conn.handle_eof(self.now()),
            Ok(n) => self.conn.handle_read(self.now(), &buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                self.conn.handle_timeout(self.now())
            }
            Err(_) => self.conn.handle_transport_error(self.now()),
        }
        Ok(())
    }
}

/// The example doubles as a smoke test in CI: anything but a clean close is an error.
fn check_clean(who: &str, closed: &ws_proto::Closed) -> io::Result<()> {
    if closed.was_clean && closed.outcome == ws_proto::Outcome::Clean {
        Ok(())
    } else {
        Err(io::Error::other(format!("{who} did not close cleanly")))
    }
}

fn serve(stream: TcpStream) -> io::Result<()> {
    let mut driver = Driver::new(stream, Role::Server);
    while !driver.socket_closed {
        driver.step()?;
        for event in driver.flush() {
            match event {
                // Sending fails only once the connection is closing; then there is no one to echo to.
                Event::Text(text) => drop(driver.conn.send_text(&text)),
                Event::Binary(data) => drop(driver.conn.send_binary(&data)),
                Event::Closed(closed) => {
                    println!("server: closed {closed:?}");
                    return check_clean("server", &closed);
                }
                other => println!("server: {other:?}"),
            }
        }
        driver.flush();
    }
    Err(io::Error::other(
        "server: socket closed without a Closed event",
    ))
}

fn main() -> io::Result<()> {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3);
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = std::thread::spawn(move || serve(listener.accept()?.0));

    let mut client = Driver::new(TcpStream::connect(addr)?, Role::Client);
    for i in 0..count {
        client
            .conn
            .send_text(&format!("hello {i}"))
            .expect("connection is open");
    }
    client.conn.send_ping(b"are you there").expect("open");
    client.flush();
    let mut echoed = 0;
    while !client.socket_closed {
        client.step()?;
        for event in client.flush() {
            match event {
                Event::Text(text) => {
                    println!("client: echo {text:?}");
                    echoed += 1;
                    if echoed == count {
                        let now = client.now();
                        client
                            .conn
                            .close(now, CloseCode::NORMAL, "done")
                            .expect("valid code");
                    }
                }
                Event::Closed(closed) => {
                    println!("client: closed {closed:?}");
                    check_clean("client", &closed)?;
                    if echoed != count {
                        return Err(io::Error::other(format!("{echoed} of {count} echoed")));
                    }
                }
                other => println!("client: {other:?}"),
            }
        }
        client.flush();
    }
    server.join().expect("server thread")?;
    Ok(())
}
