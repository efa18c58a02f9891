//! An echo server: every text and binary message goes back as it came.
//!
//! ```text
//! cargo run --release -p ws-tokio --example echo_server [ADDR]   # default 127.0.0.1:9001
//! curl http://127.0.0.1:9001/stats                              # live counts, outcomes, close times
//! ```
//!
//! Logs one line per connection when it opens and when it closes (code, clean or not, why, and
//! how long it lived). `GET /stats` (a plain HTTP request on the same port) answers with the
//! monitor's snapshot as JSON. Ctrl-C shuts down gracefully: no new connections, Close 1001 to
//! every connection, 5 s for their close handshakes, then the rest are terminated.
//! A connection to path `/close` is closed by the server (1000) after its first echo, which the
//! `churn` example uses to exercise server-initiated closes.
//! This is also the server the Autobahn TestSuite is run against.

use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use ws_tokio::{Config, Decision, Message, Monitor};

/// The monitor's snapshot, plus this process's resident memory (for the churn benchmark).
fn stats(monitor: &Monitor) -> Decision {
    let rss_kb = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4);
    let json = monitor.snapshot().to_json();
    let json = format!("{{\"rss_kb\":{rss_kb},{}", &json[1..]);
    Decision::Respond(
        http::Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(json.into())
            .expect("a valid response"),
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into())
        .parse()
        .map_err(std::io::Error::other)?;
    let listener = ws_tokio::listen(addr)?;
    println!("echo server listening on ws://{}", listener.local_addr()?);
    let monitor = Monitor::new();
    let mut config = Config::default();
    config.monitor = Some(monitor.clone());
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => accepted?,
            _ = tokio::signal::ctrl_c() => break,
        };
        let _ = stream.set_nodelay(true);
        let config = config.clone();
        let monitor = monitor.clone();
        tokio::spawn(async move {
            let opened = Instant::now();
            let mut close_after_echo = false;
            let accepted =
                ws_tokio::accept_with(stream, config, |request| match request.uri().path() {
                    "/stats" => stats(&monitor),
                    "/close" => {
                        close_after_echo = true;
                        Decision::accept()
                    }
                    _ => Decision::accept(),
                })
                .await;
            let mut ws = match accepted {
                Ok(ws) => ws,
                Err(ws_tokio::Error::Refused(_)) => return, // served /stats
                Err(e) => return println!("{peer} handshake failed: {e}"),
            };
            println!("{peer} open");
            while let Some(Ok(message)) = ws.next().await {
                if matches!(message, Message::Text(_) | Message::Binary(_)) {
                    if ws.send(message).await.is_err() {
                        break;
                    }
                    if close_after_echo {
                        let _ = ws.close(ws_tokio::CloseCode::NORMAL, "").await;
                    }
                }
            }
            if let Some(closed) = ws.closed() {
                println!(
                    "{peer} closed code={} clean={} outcome={:?} after {:?}",
                    closed.code,
                    closed.was_clean,
                    closed.outcome,
                    opened.elapsed()
                );
            }
        });
    }
    drop(listener);
    let report = ws_tokio::shutdown(&monitor, Duration::from_secs(5)).await;
    println!(
        "shut down: {} asked to close, {} closed cleanly, {} terminated",
        report.asked, report.closed, report.terminated
    );
    Ok(())
}
