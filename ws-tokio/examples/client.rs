//! A command-line client: sends each line of stdin as a text message and prints what comes back.
//!
//! ```text
//! cargo run -p ws-tokio --example client -- ws://127.0.0.1:9001/
//! ```
//!
//! End of input closes the connection cleanly and prints how it ended.

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, BufReader};
use ws_tokio::{CloseCode, Message};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), ws_tokio::Error> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:9001/".into());
    let (ws, response) = ws_tokio::connect(&url).await?;
    eprintln!("connected: {}", response.status());
    let (mut read, mut write) = ws.split();
    let printer = tokio::spawn(async move {
        while let Some(message) = read.next().await {
            match message {
                Ok(Message::Text(text)) => println!("{text}"),
                Ok(Message::Binary(data)) => println!("<{} bytes>", data.len()),
                Ok(other) => eprintln!("{other:?}"),
                Err(e) => eprintln!("error: {e}"),
            }
        }
    });
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        write.send(Message::text(line)).await?;
    }
    let closed = write.close(CloseCode::NORMAL, "bye").await?;
    eprintln!("closed: code={} clean={}", closed.code, closed.was_clean);
    let _ = printer.await;
    Ok(())
}
