//! A chat server: `GET /` serves a small page whose script connects back to `/ws`; every message
//! a browser sends is broadcast to all connected browsers, encoded once as a `PreparedMessage`.
//!
//! ```text
//! cargo run -p ws-tokio --example chat [ADDR]   # default 127.0.0.1:9001, open http://127.0.0.1:9001/
//! ```

use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use tokio::sync::broadcast;
use ws_tokio::{Config, Decision, Message, PreparedMessage};

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8"><title>chat</title>
<ul id="log"></ul>
<form id="f"><input id="msg" autocomplete="off" autofocus><button>send</button></form>
<script>
const log = document.getElementById("log");
const ws = new WebSocket(`ws://${location.host}/ws`);
const show = (text) => { const li = document.createElement("li"); li.textContent = text; log.append(li); };
ws.onopen = () => show("connected");
ws.onmessage = (event) => show(event.data);
ws.onclose = (event) => show(`closed ${event.code} clean=${event.wasClean}`);
document.getElementById("f").onsubmit = (event) => {
  event.preventDefault();
  const input = document.getElementById("msg");
  ws.send(input.value);
  input.value = "";
};
</script>
"#;

fn page() -> Decision {
    Decision::Respond(
        http::Response::builder()
            .status(200)
            .header("content-type", "text/html; charset=utf-8")
            .body(PAGE.into())
            .expect("valid response"),
    )
}

fn not_found() -> Decision {
    Decision::Respond(
        http::Response::builder()
            .status(404)
            .body("not found\n".into())
            .expect("valid response"),
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
    println!("chat on http://{}/", listener.local_addr()?);
    let (hub, _) = broadcast::channel::<PreparedMessage>(256);
    loop {
        let (stream, peer) = listener.accept().await?;
        let hub = hub.clone();
        tokio::spawn(async move {
            let ws = ws_tokio::accept_with(stream, Config::default(), |request| {
                match request.uri().path() {
                    "/ws" => Decision::accept(),
                    "/" => page(),
                    _ => not_found(),
                }
            })
            .await;
            let Ok(ws) = ws else { return };
            let (mut read, mut write) = ws.split();
            let mut feed = hub.subscribe();
            let _ = hub.send(PreparedMessage::text(&format!("{peer} joined")));
            loop {
                tokio::select! {
                    message = read.next() => match message {
                        Some(Ok(Message::Text(text))) => { let _ = hub.send(PreparedMessage::text(&format!("{peer}: {text}"))); }
                        Some(Ok(_)) => {}
                        _ => break,
                    },
                    line = feed.recv() => match line {
                        Ok(line) => if write.send(Message::Prepared(line)).await.is_err() { break },
                        Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(_) => break,
                    },
                }
            }
            let _ = hub.send(PreparedMessage::text(&format!("{peer} left")));
        });
    }
}
