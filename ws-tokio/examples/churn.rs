//! Connection churn against a server: opens connections at a steady rate, exchanges a message,
//! closes (or misbehaves), and reports handshake latency, time in CLOSING and what the server
//! held, sampled from its `GET /stats`.
//!
//! ```text
//! cargo run --release -p ws-tokio --example echo_server &
//! cargo run --release -p ws-tokio --example churn -- 127.0.0.1:9001 [RATE=300] [SECONDS=10] [MODE]
//! ```
//!
//! MODE: `normal` (close cleanly and wait for the server's FIN), `a` (send Close, read the
//! server's, never close TCP), `b` (ask the server to close via `/close`, never answer it),
//! `c` (vanish: stop reading, no FIN, no Close), `d` (half-close TCP without a Close).
//! Misbehaving sockets are held open until the end of the run.

use futures_util::{SinkExt, StreamExt};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use ws_tokio::{CloseCode, Message};

const UPGRADE: &str = "GET {path} HTTP/1.1\r\nHost: churn\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                       Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
const MASKED_X: [u8; 7] = [0x81, 0x81, 0, 0, 0, 0, b'x'];
const MASKED_CLOSE: [u8; 8] = [0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8];

struct Sample {
    handshake: Duration,
    closing: Option<Duration>,
    held: Option<TcpStream>,
}

/// A raw connection for the misbehaving modes: returns the socket after the 101 head.
async fn raw(addr: &str, path: &str) -> std::io::Result<TcpStream> {
    let mut tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    tcp.write_all(UPGRADE.replace("{path}", path).as_bytes())
        .await?;
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(tcp.read_u8().await?);
    }
    Ok(tcp)
}

async fn one(addr: String, mode: String) -> std::io::Result<Sample> {
    let start = Instant::now();
    if mode == "normal" {
        let (mut ws, _) = ws_tokio::connect(&format!("ws://{addr}/"))
            .await
            .map_err(std::io::Error::other)?;
        let handshake = start.elapsed();
        ws.send(Message::text("x"))
            .await
            .map_err(std::io::Error::other)?;
        let _ = ws.next().await;
        let closing_start = Instant::now();
        ws.close(CloseCode::NORMAL, "")
            .await
            .map_err(std::io::Error::other)?;
        return Ok(Sample {
            handshake,
            closing: Some(closing_start.elapsed()),
            held: None,
        });
    }
    let path = if mode == "b" { "/close" } else { "/" };
    let mut tcp = raw(&addr, path).await?;
    let handshake = start.elapsed();
    tcp.write_all(&MASKED_X).await?;
    let mut echo = [0u8; 3];
    tcp.read_exact(&mut echo).await?;
    match mode.as_str() {
        "a" => {
            tcp.write_all(&MASKED_CLOSE).await?;
            let mut close = [0u8; 4];
            tcp.read_exact(&mut close).await?;
        }
        "d" => tcp.shutdown().await?,
        _ => {} // b: the server's Close arrives and is never answered; c: silence
    }
    Ok(Sample {
        handshake,
        closing: None,
        held: Some(tcp),
    })
}

/// The server's `GET /stats` JSON.
async fn stats(addr: &str) -> std::io::Result<String> {
    let mut tcp = TcpStream::connect(addr).await?;
    // `Connection: close`: the body is read to EOF, and a keep-alive server (Node's http keeps
    // idle connections 5 s) would otherwise stall every sample.
    tcp.write_all(b"GET /stats HTTP/1.1\r\nHost: churn\r\nConnection: close\r\n\r\n")
        .await?;
    let mut response = String::new();
    tcp.read_to_string(&mut response).await?;
    Ok(response.split("\r\n\r\n").nth(1).unwrap_or("").to_string())
}

fn field(json: &str, key: &str) -> u64 {
    json.split(&format!("\"{key}\":"))
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn quantiles(mut v: Vec<Duration>) -> String {
    if v.is_empty() {
        return "-".into();
    }
    v.sort();
    let q = |p: f64| v[((v.len() as f64 * p) as usize).min(v.len() - 1)];
    format!(
        "p50 {:?} p99 {:?} max {:?}",
        q(0.5),
        q(0.99),
        v[v.len() - 1]
    )
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = args
        .first()
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    let rate: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(300);
    let seconds: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10);
    let mode = args.get(3).cloned().unwrap_or_else(|| "normal".into());

    let (tx, mut rx) = mpsc::unbounded_channel();
    let sampler_addr = addr.clone();
    let sampler = tokio::spawn(async move {
        let (mut peak, mut peak_rss) = (0, 0);
        let mut last = String::new();
        for _ in 0..(seconds * 10 + 20) {
            if let Ok(json) = stats(&sampler_addr).await {
                peak = peak.max(field(&json, "open") + field(&json, "closing"));
                peak_rss = peak_rss.max(field(&json, "rss_kb"));
                last = json;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        (peak, peak_rss, last)
    });
    let start = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
    let total = rate * seconds;
    for _ in 0..total {
        ticker.tick().await;
        let (tx, addr, mode) = (tx.clone(), addr.clone(), mode.clone());
        tokio::spawn(async move {
            // A connection that makes no progress for 5 s counts as an error, not a hang.
            let result = tokio::time::timeout(Duration::from_secs(5), one(addr, mode))
                .await
                .unwrap_or_else(|_| Err(std::io::Error::other("timed out")));
            let _ = tx.send(result);
        });
    }
    drop(tx);
    let mut handshakes = Vec::new();
    let mut closings = Vec::new();
    let mut held = Vec::new();
    let mut errors = 0;
    while let Some(result) = rx.recv().await {
        match result {
            Ok(sample) => {
                handshakes.push(sample.handshake);
                closings.extend(sample.closing);
                held.extend(sample.held);
            }
            Err(_) => errors += 1,
        }
    }
    let elapsed = start.elapsed();
    let handshakes_len = handshakes.len();
    let (peak, peak_rss, last) = sampler.await.map_err(std::io::Error::other)?;
    println!(
        "mode {mode}: {} connections in {elapsed:.1?} ({:.0}/s), {errors} errors",
        handshakes.len(),
        handshakes.len() as f64 / elapsed.as_secs_f64()
    );
    println!("handshake latency: {}", quantiles(handshakes));
    println!("client time in CLOSING: {}", quantiles(closings));
    println!("server peak sockets held (open + closing): {peak}");
    println!("server peak RSS: {peak_rss} KiB");
    let closing = last.split("\"closing_time\":").nth(1).unwrap_or("");
    println!(
        "server time in CLOSING: count {} p50 {} ms p99 {} ms max {} ms",
        field(closing, "count"),
        field(closing, "p50_ms"),
        field(closing, "p99_ms"),
        field(closing, "max_ms")
    );
    println!(
        "RESULT {mode} {} {:.0} {peak} {peak_rss} {} {} {} {}",
        handshakes_len,
        handshakes_len as f64 / elapsed.as_secs_f64(),
        field(closing, "p50_ms"),
        field(closing, "p99_ms"),
        field(closing, "max_ms"),
        errors
    );
    println!("server stats at the end: {last}");
    drop(held);
    Ok(())
}
