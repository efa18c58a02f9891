//! A load generator that depends on no WebSocket library: hand-written client framing.
//!
//! ```text
//! load --addr A --conns N --inflight D --size S --kind text|binary --messages M [--raw] [--gate]
//! load --addr A --burst up|down-batched|down-permsg --size S --messages M [--raw] [--gate]
//! load --addr A --idle N
//! ```
//!
//! Echo mode opens N connections (HTTP upgrade by hand with a fixed key, `101` checked; with
//! `--raw` no upgrade, for the raw-tcp server), pre-builds ONE masked frame of S bytes (fixed
//! mask, payload all `a`), keeps D messages in flight per connection until M messages in all
//! were echoed, and prints one JSON line:
//! `{"messages":..,"seconds":..,"msgs_per_s":..,"p50_us":..,"p99_us":..}`.
//! Every echo is checked: opcode, length, and every payload byte (fragmented echoes are
//! reassembled; with `--raw` the echoed bytes must equal the bytes sent).
//! `--gate`: once connected, print `{"connected":N}` and wait for a line on stdin before the
//! load starts (so the driver samples server CPU without the handshakes).
//!
//! Burst mode (against `echo_server IMPL ADDR burst`) opens ONE connection and, after the gate,
//! sends the command as a text message (with `--raw`: as a line), then:
//! - `up`: `upload M S`, then M binary messages of S bytes — pre-built masked frames, written in
//!   256 KiB chunks of whole frames as fast as the server takes them — then the text message
//!   `done` (not with `--raw`: the raw server counts bytes); waits for the server's text answer
//!   `COUNT BYTES` and checks it is `M M*S`.
//! - `down-batched` / `down-permsg`: `burst M S batched|permsg`; reads the server's messages
//!   (frame headers parsed, payloads skipped unread, fragments summed) and checks that M binary
//!   messages of exactly S bytes came, then the text message `done`.
//!
//! It prints `{"messages":M,"seconds":..,"msgs_per_s":..}`, timed from the command to the
//! answer (`COUNT BYTES` or `done`).
//!
//! Idle mode opens N connections, does one 16-byte echo on each, prints `{"idle":N}` and sleeps
//! until killed.
//!
//! One tokio current_thread runtime, one task per connection; each task reads and writes
//! concurrently (so large messages cannot deadlock), reads up to 256 KiB at a time and writes
//! all frames that are due in one write. Latency is from the moment a message is due (its
//! credit arrived) to the read that completed its echo, one clock read per read call.

use std::collections::VecDeque;
use std::io::{self, BufRead, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
const READ_BUF: usize = 256 * 1024;

type Error = Box<dyn std::error::Error + Send + Sync>;

struct Args {
    addr: SocketAddr,
    conns: usize,
    inflight: usize,
    size: usize,
    text: bool,
    messages: u64,
    raw: bool,
    gate: bool,
    idle: Option<usize>,
    burst: Option<Burst>,
}

/// A one-way burst (see the module docs).
#[derive(Clone, Copy, Debug)]
enum Burst {
    Up,
    Down { batched: bool },
}

fn usage() -> ! {
    eprintln!(
        "usage: load --addr A --conns N --inflight D --size S --kind text|binary --messages M \
         [--raw] [--gate]\n       load --addr A --burst up|down-batched|down-permsg --size S \
         --messages M [--raw] [--gate]\n       load --addr A --idle N [--raw]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut args = Args {
        addr: "127.0.0.1:9001".parse().unwrap(),
        conns: 100,
        inflight: 8,
        size: 16,
        text: false,
        messages: 100_000,
        raw: false,
        gate: false,
        idle: None,
        burst: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--addr" => args.addr = value().parse().unwrap_or_else(|_| usage()),
            "--conns" => args.conns = value().parse().unwrap_or_else(|_| usage()),
            "--inflight" => args.inflight = value().parse().unwrap_or_else(|_| usage()),
            "--size" => args.size = value().parse().unwrap_or_else(|_| usage()),
            "--kind" => {
                args.text = match value().as_str() {
                    "text" => true,
                    "binary" => false,
                    _ => usage(),
                }
            }
            "--messages" => args.messages = value().parse().unwrap_or_else(|_| usage()),
            "--idle" => args.idle = Some(value().parse().unwrap_or_else(|_| usage())),
            "--burst" => {
                args.burst = Some(match value().as_str() {
                    "up" => Burst::Up,
                    "down-batched" => Burst::Down { batched: true },
                    "down-permsg" => Burst::Down { batched: false },
                    _ => usage(),
                })
            }
            "--raw" => args.raw = true,
            "--gate" => args.gate = true,
            _ => usage(),
        }
    }
    if args.conns == 0 || args.inflight == 0 {
        usage();
    }
    args
}

fn main() {
    let args = parse_args();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = match (args.idle, args.burst) {
        (Some(n), _) => rt.block_on(idle(&args, n)),
        (None, Some(kind)) => rt.block_on(burst(&args, kind)),
        (None, None) => rt.block_on(echo(&args)),
    };
    if let Err(e) = result {
        eprintln!("load: {e}");
        std::process::exit(1);
    }
}

/// One client frame: FIN, the opcode, masked, payload all `a`.
fn build_frame(size: usize, text: bool) -> Vec<u8> {
    let mut f = Vec::with_capacity(size + 14);
    f.push(0x80 | if text { 1 } else { 2 });
    if size < 126 {
        f.push(0x80 | size as u8);
    } else if size <= 0xffff {
        f.push(0x80 | 126);
        f.extend_from_slice(&(size as u16).to_be_bytes());
    } else {
        f.push(0x80 | 127);
        f.extend_from_slice(&(size as u64).to_be_bytes());
    }
    f.extend_from_slice(&MASK);
    f.extend((0..size).map(|i| b'a' ^ MASK[i % 4]));
    f
}

/// One masked client frame (FIN) with any payload.
fn masked_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = build_frame(payload.len(), false);
    let start = f.len() - payload.len();
    f[0] = 0x80 | opcode;
    for (i, (out, b)) in f[start..].iter_mut().zip(payload).enumerate() {
        *out = b ^ MASK[i % 4];
    }
    f
}

async fn connect(addr: SocketAddr, raw: bool) -> Result<TcpStream, Error> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    if raw {
        return Ok(stream);
    }
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    // The server sends nothing after its 101 until we send, so the head is all there is.
    let mut buf = Vec::with_capacity(512);
    loop {
        if stream.read_buf(&mut buf).await? == 0 {
            return Err("eof during the handshake".into());
        }
        if buf.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
        if buf.len() > 16 * 1024 {
            return Err("response head too large".into());
        }
    }
    let head = String::from_utf8_lossy(&buf);
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if status != "101" {
        return Err(format!("handshake: expected 101, got {:?}", head.lines().next()).into());
    }
    if !head.contains(ACCEPT) {
        return Err("handshake: wrong Sec-WebSocket-Accept".into());
    }
    if !buf.ends_with(b"\r\n\r\n") {
        return Err("handshake: data after the 101".into());
    }
    Ok(stream)
}

async fn connect_all(addr: SocketAddr, n: usize, raw: bool) -> Result<Vec<TcpStream>, Error> {
    // In waves, so bursts do not overflow the server's accept backlog.
    let mut streams = Vec::with_capacity(n);
    while streams.len() < n {
        let wave = (n - streams.len()).min(200);
        let handles: Vec<_> = (0..wave)
            .map(|_| tokio::spawn(connect(addr, raw)))
            .collect();
        for h in handles {
            streams.push(h.await??);
        }
    }
    Ok(streams)
}

/// Minimal parser of server frames (unmasked; 2/4/10-byte headers); reassembles fragments.
struct Parser {
    expect_opcode: u8,
    expect_len: u64,
    head: [u8; 14],
    head_len: usize,
    payload_left: u64,
    frame_is_data: bool,
    frame_fin: bool,
    message_opcode: u8,
    message_len: u64,
    bad_bytes: u8,
}

impl Parser {
    fn new(text: bool, size: usize) -> Parser {
        Parser {
            expect_opcode: if text { 1 } else { 2 },
            expect_len: size as u64,
            head: [0; 14],
            head_len: 0,
            payload_left: 0,
            frame_is_data: false,
            frame_fin: false,
            message_opcode: 0,
            message_len: 0,
            bad_bytes: 0,
        }
    }

    /// Feeds bytes; returns how many complete, verified messages they ended.
    fn feed(&mut self, mut data: &[u8]) -> Result<u64, Error> {
        let mut done = 0;
        while !data.is_empty() {
            if self.payload_left > 0 {
                let take = (self.payload_left.min(data.len() as u64)) as usize;
                if self.frame_is_data {
                    self.bad_bytes |= data[..take].iter().fold(0u8, |acc, &b| acc | (b ^ b'a'));
                }
                self.payload_left -= take as u64;
                data = &data[take..];
                if self.payload_left == 0 {
                    done += self.end_frame()?;
                }
                continue;
            }
            // A header, perhaps split across reads.
            let want = if self.head_len < 2 {
                2
            } else {
                2 + match self.head[1] & 0x7f {
                    126 => 2,
                    127 => 8,
                    _ => 0,
                } + if self.head[1] & 0x80 != 0 { 4 } else { 0 }
            };
            if self.head_len < want {
                let take = (want - self.head_len).min(data.len());
                self.head[self.head_len..self.head_len + take].copy_from_slice(&data[..take]);
                self.head_len += take;
                data = &data[take..];
                if self.head_len < 2 || self.head_len < want {
                    continue;
                }
                // Two bytes in: the length may need more.
                if want == 2 && matches!(self.head[1] & 0x7f, 126 | 127) {
                    continue;
                }
            }
            done += self.start_frame()?;
        }
        Ok(done)
    }

    fn start_frame(&mut self) -> Result<u64, Error> {
        let (b0, b1) = (self.head[0], self.head[1]);
        self.head_len = 0;
        if b1 & 0x80 != 0 {
            return Err("server frame is masked".into());
        }
        if b0 & 0x70 != 0 {
            return Err("server frame has RSV bits set".into());
        }
        let len = match b1 & 0x7f {
            126 => u16::from_be_bytes([self.head[2], self.head[3]]) as u64,
            127 => u64::from_be_bytes(self.head[2..10].try_into().unwrap()),
            n => n as u64,
        };
        let opcode = b0 & 0x0f;
        self.frame_fin = b0 & 0x80 != 0;
        match opcode {
            0 => {
                if self.message_opcode == 0 {
                    return Err("continuation without a message".into());
                }
                self.frame_is_data = true;
            }
            1 | 2 => {
                if self.message_opcode != 0 {
                    return Err("new message inside a fragmented one".into());
                }
                if opcode != self.expect_opcode {
                    return Err(
                        format!("echo has opcode {opcode}, sent {}", self.expect_opcode).into(),
                    );
                }
                self.message_opcode = opcode;
                self.message_len = 0;
                self.frame_is_data = true;
            }
            8 => return Err("server sent Close".into()),
            9 | 10 => self.frame_is_data = false, // ignored
            _ => return Err(format!("server sent opcode {opcode}").into()),
        }
        if self.frame_is_data {
            self.message_len += len;
        }
        self.payload_left = len;
        if len == 0 {
            return self.end_frame();
        }
        Ok(0)
    }

    fn end_frame(&mut self) -> Result<u64, Error> {
        if !self.frame_is_data || !self.frame_fin {
            return Ok(0);
        }
        if self.message_len != self.expect_len {
            return Err(format!(
                "echo is {} bytes, sent {}",
                self.message_len, self.expect_len
            )
            .into());
        }
        if self.bad_bytes != 0 {
            return Err("echoed payload differs from what was sent".into());
        }
        self.message_opcode = 0;
        Ok(1)
    }
}

/// With `--raw`: the echo must be the very bytes sent.
struct RawChecker {
    frame: Arc<Vec<u8>>,
    pos: usize,
}

impl RawChecker {
    fn feed(&mut self, mut data: &[u8]) -> Result<u64, Error> {
        let mut done = 0;
        while !data.is_empty() {
            let take = (self.frame.len() - self.pos).min(data.len());
            if data[..take] != self.frame[self.pos..self.pos + take] {
                return Err("raw echo differs from what was sent".into());
            }
            data = &data[take..];
            self.pos += take;
            if self.pos == self.frame.len() {
                self.pos = 0;
                done += 1;
            }
        }
        Ok(done)
    }
}

enum Check {
    Ws(Parser),
    Raw(RawChecker),
}

impl Check {
    fn feed(&mut self, data: &[u8]) -> Result<u64, Error> {
        match self {
            Check::Ws(p) => p.feed(data),
            Check::Raw(r) => r.feed(data),
        }
    }
}

struct Load {
    /// `frames` copies of the frame, back to back.
    pattern: Arc<Vec<u8>>,
    frame: Arc<Vec<u8>>,
    /// Offsets into `pattern` wrap at this (a whole number of frames).
    period: usize,
    inflight: u64,
    text: bool,
    size: usize,
    raw: bool,
}

/// Runs `quota` messages on one connection; returns the latencies (µs) and the stream.
async fn run_conn(
    mut stream: TcpStream,
    load: Arc<Load>,
    quota: u64,
) -> Result<(Vec<u32>, TcpStream), Error> {
    let flen = load.frame.len();
    let mut check = if load.raw {
        Check::Raw(RawChecker {
            frame: load.frame.clone(),
            pos: 0,
        })
    } else {
        Check::Ws(Parser::new(load.text, load.size))
    };
    let mut latencies = Vec::with_capacity(quota as usize);
    let mut rbuf = vec![0u8; READ_BUF];
    let start = Instant::now();
    let first = load.inflight.min(quota);
    let mut queued = first;
    let mut due: VecDeque<Instant> = (0..first).map(|_| start).collect();
    let mut unsent = first as usize * flen;
    let mut out_pos = 0usize;
    let mut received = 0u64;
    {
        let (mut rd, mut wr) = stream.split();
        while received < quota {
            let read = if unsent > 0 {
                let end = (out_pos + unsent).min(load.pattern.len());
                let chunk = &load.pattern[out_pos..end];
                tokio::select! {
                    biased;
                    r = rd.read(&mut rbuf) => Some(r),
                    w = wr.write(chunk) => {
                        let n = w?;
                        if n == 0 {
                            return Err("write returned 0".into());
                        }
                        unsent -= n;
                        out_pos = (out_pos + n) % load.period;
                        None
                    }
                }
            } else {
                Some(rd.read(&mut rbuf).await)
            };
            let Some(read) = read else { continue };
            let n = read?;
            if n == 0 {
                return Err(format!("server closed after {received} of {quota} echoes").into());
            }
            let done = check.feed(&rbuf[..n])?;
            if done > 0 {
                let now = Instant::now();
                for _ in 0..done {
                    let sent = due.pop_front().ok_or("more echoes than messages sent")?;
                    latencies
                        .push(now.duration_since(sent).as_micros().min(u32::MAX as u128) as u32);
                    received += 1;
                    if queued < quota {
                        queued += 1;
                        due.push_back(now);
                        unsent += flen;
                    }
                }
            }
        }
    }
    Ok((latencies, stream))
}

async fn echo(args: &Args) -> Result<(), Error> {
    let frame = Arc::new(build_frame(args.size, args.text));
    let flen = frame.len();
    // Small frames: 2*D copies, so any D frames due are one contiguous write. Large frames:
    // one copy (each write is large anyway).
    let (pattern, period) = if flen * 2 * args.inflight <= 1 << 20 {
        let mut p = Vec::with_capacity(flen * 2 * args.inflight);
        for _ in 0..2 * args.inflight {
            p.extend_from_slice(&frame);
        }
        (p, flen * args.inflight)
    } else {
        (frame.as_ref().clone(), flen)
    };
    let load = Arc::new(Load {
        pattern: Arc::new(pattern),
        frame,
        period,
        inflight: args.inflight as u64,
        text: args.text,
        size: args.size,
        raw: args.raw,
    });
    let streams = connect_all(args.addr, args.conns, args.raw).await?;
    if args.gate {
        println!("{{\"connected\":{}}}", streams.len());
        io::stdout().flush()?;
        let mut line = String::new();
        io::stdin().lock().read_line(&mut line)?;
    }
    let n = streams.len() as u64;
    let start = Instant::now();
    let handles: Vec<_> = streams
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let quota = args.messages / n + u64::from((i as u64) < args.messages % n);
            tokio::spawn(run_conn(s, load.clone(), quota))
        })
        .collect();
    let mut latencies = Vec::with_capacity(args.messages as usize);
    let mut streams = Vec::with_capacity(handles.len());
    for h in handles {
        let (l, s) = h.await??;
        latencies.extend_from_slice(&l);
        streams.push(s);
    }
    let seconds = start.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let pct = |p: f64| -> u32 {
        if latencies.is_empty() {
            0
        } else {
            latencies[((latencies.len() - 1) as f64 * p).round() as usize]
        }
    };
    println!(
        "{{\"messages\":{},\"seconds\":{:.6},\"msgs_per_s\":{:.1},\"p50_us\":{},\"p99_us\":{}}}",
        latencies.len(),
        seconds,
        latencies.len() as f64 / seconds,
        pct(0.50),
        pct(0.99)
    );
    io::stdout().flush()?;
    // Close politely (not measured): Close 1000, then wait briefly for the server's Close/EOF.
    let closes: Vec<_> = streams
        .into_iter()
        .map(|s| tokio::spawn(close(s, args.raw)))
        .collect();
    for c in closes {
        let _ = c.await;
    }
    Ok(())
}

async fn close(mut stream: TcpStream, raw: bool) {
    if !raw {
        let mut f = vec![0x88, 0x82];
        f.extend_from_slice(&MASK);
        f.push(0x03 ^ MASK[0]);
        f.push(0xe8 ^ MASK[1]);
        if stream.write_all(&f).await.is_err() {
            return;
        }
    }
    let _ = stream.shutdown().await;
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

/// Reads server frames in a burst: counts binary messages (checking each is `size` bytes long,
/// payloads skipped unread), and returns the first text message.
struct BurstReader {
    size: u64,
    head: [u8; 14],
    head_len: usize,
    payload_left: u64,
    /// The current frame is Ping/Pong (skipped).
    control: bool,
    fin: bool,
    /// Opcode of the message in progress, 0 between messages.
    message: u8,
    message_len: u64,
    text: Vec<u8>,
    count: u64,
}

impl BurstReader {
    fn new(size: usize) -> BurstReader {
        BurstReader {
            size: size as u64,
            head: [0; 14],
            head_len: 0,
            payload_left: 0,
            control: false,
            fin: false,
            message: 0,
            message_len: 0,
            text: Vec::new(),
            count: 0,
        }
    }

    /// The header length that the first two bytes announce.
    fn header_len(b1: u8) -> usize {
        2 + match b1 & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        } + if b1 & 0x80 != 0 { 4 } else { 0 }
    }

    /// Feeds bytes; returns the text message that ended in them, if one did (the bytes after it
    /// are ignored).
    fn feed(&mut self, mut data: &[u8]) -> Result<Option<String>, Error> {
        while !data.is_empty() {
            if self.payload_left > 0 {
                let take = self.payload_left.min(data.len() as u64) as usize;
                if self.message == 1 && !self.control {
                    if self.text.len() + take > 4096 {
                        return Err("text message too long".into());
                    }
                    self.text.extend_from_slice(&data[..take]);
                }
                self.payload_left -= take as u64;
                data = &data[take..];
                if self.payload_left == 0 {
                    if let Some(text) = self.end_frame()? {
                        return Ok(Some(text));
                    }
                }
                continue;
            }
            let need = if self.head_len < 2 {
                2
            } else {
                Self::header_len(self.head[1])
            };
            let take = (need - self.head_len).min(data.len());
            self.head[self.head_len..self.head_len + take].copy_from_slice(&data[..take]);
            self.head_len += take;
            data = &data[take..];
            if self.head_len >= 2 && self.head_len == Self::header_len(self.head[1]) {
                if let Some(text) = self.start_frame()? {
                    return Ok(Some(text));
                }
            }
        }
        Ok(None)
    }

    fn start_frame(&mut self) -> Result<Option<String>, Error> {
        let (b0, b1) = (self.head[0], self.head[1]);
        self.head_len = 0;
        if b1 & 0x80 != 0 {
            return Err("server frame is masked".into());
        }
        if b0 & 0x70 != 0 {
            return Err("server frame has RSV bits set".into());
        }
        let len = match b1 & 0x7f {
            126 => u16::from_be_bytes([self.head[2], self.head[3]]) as u64,
            127 => u64::from_be_bytes(self.head[2..10].try_into().unwrap()),
            n => n as u64,
        };
        let opcode = b0 & 0x0f;
        self.fin = b0 & 0x80 != 0;
        self.control = false;
        match opcode {
            0 if self.message != 0 => {}
            0 => return Err("continuation without a message".into()),
            1 | 2 if self.message == 0 => {
                self.message = opcode;
                self.message_len = 0;
                self.text.clear();
            }
            1 | 2 => return Err("new message inside a fragmented one".into()),
            8 => return Err(format!("server sent Close after {} messages", self.count).into()),
            9 | 10 => self.control = true,
            _ => return Err(format!("server sent opcode {opcode}").into()),
        }
        if !self.control {
            self.message_len += len;
        }
        self.payload_left = len;
        if len == 0 {
            return self.end_frame();
        }
        Ok(None)
    }

    fn end_frame(&mut self) -> Result<Option<String>, Error> {
        if self.control || !self.fin {
            return Ok(None);
        }
        let opcode = std::mem::take(&mut self.message);
        if opcode == 2 {
            if self.message_len != self.size {
                return Err(format!(
                    "message {} is {} bytes, expected {}",
                    self.count + 1,
                    self.message_len,
                    self.size
                )
                .into());
            }
            self.count += 1;
            return Ok(None);
        }
        let text = String::from_utf8(std::mem::take(&mut self.text))?;
        Ok(Some(text))
    }
}

/// Reads until the server's first text message.
async fn read_text(
    stream: &mut TcpStream,
    reader: &mut BurstReader,
    buf: &mut [u8],
) -> Result<String, Error> {
    loop {
        let n = stream.read(buf).await?;
        if n == 0 {
            return Err(format!("server closed after {} messages", reader.count).into());
        }
        if let Some(text) = reader.feed(&buf[..n])? {
            return Ok(text);
        }
    }
}

async fn burst(args: &Args, kind: Burst) -> Result<(), Error> {
    const CHUNK: usize = 256 * 1024;
    let (n, size) = (args.messages, args.size);
    let mut stream = connect(args.addr, args.raw).await?;
    let command = match kind {
        Burst::Up => format!("upload {n} {size}"),
        Burst::Down { batched } => {
            format!(
                "burst {n} {size} {}",
                if batched { "batched" } else { "permsg" }
            )
        }
    };
    let command = if args.raw {
        format!("{command}\n").into_bytes()
    } else {
        masked_frame(1, command.as_bytes())
    };
    // Built before the gate, so the timed part only writes.
    let upload_chunk = match kind {
        Burst::Up => {
            let frame = build_frame(size, false);
            let per = (CHUNK / frame.len()).max(1);
            Some((frame.repeat(per), per as u64, frame.len()))
        }
        Burst::Down { .. } => None,
    };
    if args.gate {
        println!("{{\"connected\":1}}");
        io::stdout().flush()?;
        let mut line = String::new();
        io::stdin().lock().read_line(&mut line)?;
    }
    let mut reader = BurstReader::new(size);
    let mut rbuf = vec![0u8; READ_BUF];
    let start = Instant::now();
    stream.write_all(&command).await?;
    match kind {
        Burst::Up => {
            let (chunk, per, flen) = upload_chunk.unwrap();
            let mut left = n;
            while left > 0 {
                let k = left.min(per);
                stream.write_all(&chunk[..k as usize * flen]).await?;
                left -= k;
            }
            if !args.raw {
                stream.write_all(&masked_frame(1, b"done")).await?;
            }
            let answer = read_text(&mut stream, &mut reader, &mut rbuf).await?;
            let want = format!("{n} {}", n * size as u64);
            if answer != want || reader.count != 0 {
                return Err(
                    format!("upload: server answered {answer:?}, expected {want:?}").into(),
                );
            }
        }
        Burst::Down { .. } => {
            let text = read_text(&mut stream, &mut reader, &mut rbuf).await?;
            if text != "done" {
                return Err(format!("download: unexpected text {text:?}").into());
            }
            if reader.count != n {
                return Err(
                    format!("download: {} of {n} messages before done", reader.count).into(),
                );
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "{{\"messages\":{n},\"seconds\":{seconds:.6},\"msgs_per_s\":{:.1}}}",
        n as f64 / seconds
    );
    io::stdout().flush()?;
    close(stream, args.raw).await;
    Ok(())
}

async fn idle(args: &Args, n: usize) -> Result<(), Error> {
    let load = Arc::new(Load {
        pattern: Arc::new(build_frame(16, false)),
        frame: Arc::new(build_frame(16, false)),
        period: 16 + 6,
        inflight: 1,
        text: false,
        size: 16,
        raw: args.raw,
    });
    let mut streams = Vec::with_capacity(n);
    while streams.len() < n {
        let wave = (n - streams.len()).min(200);
        let handles: Vec<_> = (0..wave)
            .map(|_| {
                let load = load.clone();
                let (addr, raw) = (args.addr, args.raw);
                tokio::spawn(async move { run_conn(connect(addr, raw).await?, load, 1).await })
            })
            .collect();
        for h in handles {
            streams.push(h.await??.1);
        }
    }
    println!("{{\"idle\":{}}}", streams.len());
    io::stdout().flush()?;
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}
