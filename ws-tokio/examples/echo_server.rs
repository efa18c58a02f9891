//! An echo server: every text and binary message goes back as it came.
//!
//! ```text
//! cargo run --release -p ws-tokio --example echo_server [ADDR]   # default 127.0.0.1:9001
//! ```
//!
//! Logs one line per connection when it opens and when it closes (code, clean or not, why, and
//! how long it lived). This is also the server the Autobahn TestSuite is run against.

use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::time::Instant;
use ws_tokio::{Config, Decision, Message};

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into())
        .parse()
        .map_err(std::io::Error::other)?;
    let listener = ws_tokio::listen(addr)?;
    println!("echo server listening on ws://{}", listener.local_addr()?);
    loop {
        let (stream, peer) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let opened = Instant::now();
            let mut ws = match ws_tokio::accept_with(stream, Config::default(), |_| {
                Decision::accept()
            })
            .await
            {
                Ok(ws) => ws,
                Err(e) => return println!("{peer} handshake failed: {e}"),
            };
            println!("{peer} open");
            while let Some(Ok(message)) = ws.next().await {
                if matches!(message, Message::Text(_) | Message::Binary(_))
                    && ws.send(message).await.is_err()
                {
                    break;
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
}
