//! The client testee for the Autobahn TestSuite: runs every case of a fuzzing server as an echo
//! client, then asks the server to write its reports.
//!
//! ```text
//! kosoku -m fuzzingserver -o reports 127.0.0.1:9002 &
//! cargo run --release -p ws-tokio --example autobahn_client -- 127.0.0.1:9002
//! ```

use futures_util::{SinkExt, StreamExt};
use ws_tokio::{Config, Message};

const AGENT: &str = "ws-tokio";

async fn case_count(addr: &str) -> Result<usize, ws_tokio::Error> {
    let (mut ws, _) = ws_tokio::connect(&format!("ws://{addr}/getCaseCount")).await?;
    let mut count = 0;
    while let Some(Ok(message)) = ws.next().await {
        if let Message::Text(text) = message {
            count = text.trim().parse().unwrap_or(0);
        }
    }
    Ok(count)
}

async fn run_case(addr: &str, case: usize) -> Result<(), ws_tokio::Error> {
    let url = format!("ws://{addr}/runCase?case={case}&agent={AGENT}");
    let request = ws_tokio::ws_proto::ClientHandshake::request(&url)?;
    let (mut ws, _) = ws_tokio::connect_with(request, Config::default()).await?;
    while let Some(message) = ws.next().await {
        let message = message?;
        if matches!(message, Message::Text(_) | Message::Binary(_)) {
            ws.send(message).await?;
        }
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), ws_tokio::Error> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    let count = case_count(&addr).await?;
    for case in 1..=count {
        if let Err(e) = run_case(&addr, case).await {
            eprintln!("case {case}: {e}");
        }
    }
    let (mut ws, _) =
        ws_tokio::connect(&format!("ws://{addr}/updateReports?agent={AGENT}")).await?;
    while ws.next().await.is_some() {}
    eprintln!("ran {count} cases");
    Ok(())
}
