//! A command-line client: sends each line of stdin as a text message and prints what comes back.
//!
//! ```text
//! cargo run -p ws-smol --example client -- ws://127.0.0.1:9001/
//! ```

use futures_util::{AsyncBufReadExt, SinkExt, StreamExt};
use ws_smol::{CloseCode, Message};

fn main() -> std::io::Result<()> {
    smol::block_on(run())
}

async fn run() -> std::io::Result<()> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:9001/".into());
    let (ws, response) = ws_smol::connect(&url)
        .await
        .map_err(std::io::Error::other)?;
    eprintln!("connected: {}", response.status());
    let (mut read, mut write) = ws.split();
    let printer = smol::spawn(async move {
        while let Some(message) = read.next().await {
            match message {
                Ok(Message::Text(text)) => println!("{text}"),
                Ok(Message::Binary(data)) => println!("<{} bytes>", data.len()),
                Ok(other) => eprintln!("{other:?}"),
                Err(e) => eprintln!("error: {e}"),
            }
        }
    });
    let mut lines = futures_util::io::BufReader::new(smol::Unblock::new(std::io::stdin())).lines();
    while let Some(line) = lines.next().await {
        write
            .send(Message::text(line?))
            .await
            .map_err(std::io::Error::other)?;
    }
    let closed = write
        .close(CloseCode::NORMAL, "bye")
        .await
        .map_err(std::io::Error::other)?;
    eprintln!("closed: code={} clean={}", closed.code, closed.was_clean);
    printer.await;
    Ok(())
}
