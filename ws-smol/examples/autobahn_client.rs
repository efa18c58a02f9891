//! The client testee for the Autobahn TestSuite: runs every case of a fuzzing server as an echo
//! client, then asks the server to write its reports.
//!
//! ```text
//! kosoku -m fuzzingserver -o reports 127.0.0.1:9002 &
//! cargo run --release -p ws-smol --example autobahn_client -- 127.0.0.1:9002
//! ```

use futures_util::{SinkExt, StreamExt};
use ws_smol::Message;

const AGENT: &str = "ws-smol";

fn main() -> std::io::Result<()> {
    smol::block_on(run())
}

async fn run() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    let (mut ws, _) = ws_smol::connect(&format!("ws://{addr}/getCaseCount"))
        .await
        .map_err(std::io::Error::other)?;
    let mut count = 0usize;
    while let Some(Ok(message)) = ws.next().await {
        if let Message::Text(text) = message {
            count = text.trim().parse().unwrap_or(0);
        }
    }
    for case in 1..=count {
        let url = format!("ws://{addr}/runCase?case={case}&agent={AGENT}");
        let result = async {
            let (mut ws, _) = ws_smol::connect(&url).await?;
            while let Some(message) = ws.next().await {
                let message = message?;
                if matches!(message, Message::Text(_) | Message::Binary(_)) {
                    ws.send(message).await?;
                }
            }
            Ok::<(), ws_smol::Error>(())
        }
        .await;
        if let Err(e) = result {
            eprintln!("case {case}: {e}");
        }
    }
    let (mut ws, _) = ws_smol::connect(&format!("ws://{addr}/updateReports?agent={AGENT}"))
        .await
        .map_err(std::io::Error::other)?;
    while ws.next().await.is_some() {}
    eprintln!("ran {count} cases");
    Ok(())
}
