// Interop scenarios shared by every runtime's `interop_server` / `interop_client` example
// (included with `#[path]`): the protocol behaviour under test is runtime-independent, so the
// scenarios are written once against ws-driver's generic WebSocket.
//
// Every run prints one JSON line describing what our side observed; scripts/interop compares it
// with what the real peer (Node `ws`, Python `websockets`) observed.

use futures_util::{SinkExt, StreamExt};
use ws_driver::{CloseCode, Closed, Message, Runtime, Transport, WebSocket};

/// What one side saw: the messages in order, whether permessage-deflate was negotiated, and how
/// the connection ended.
pub fn report(
    scenario: &str,
    received: &[String],
    deflate: bool,
    closed: Option<Closed>,
) -> String {
    let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let received = received
        .iter()
        .map(|m| quote(m))
        .collect::<Vec<_>>()
        .join(",");
    match closed {
        Some(c) => format!(
            "{{\"scenario\":{},\"received\":[{received}],\"deflate\":{deflate},\"code\":{},\"reason\":{},\"clean\":{},\"initiator\":\"{:?}\",\"outcome\":\"{:?}\"}}",
            quote(scenario), c.code.0, quote(&c.reason), c.was_clean, c.initiator, c.outcome
        ),
        None => format!(
            "{{\"scenario\":{},\"received\":[{received}],\"deflate\":{deflate},\"code\":null}}",
            quote(scenario)
        ),
    }
}

/// A short description of a message for the report.
fn describe(message: &Message) -> Option<String> {
    match message {
        Message::Text(text) => Some(if text.len() > 64 {
            format!("text:{}", text.len())
        } else {
            text.to_string()
        }),
        Message::Binary(data) => Some(format!("binary:{}", data.len())),
        Message::Pong(data) => Some(format!("pong:{}", String::from_utf8_lossy(data))),
        _ => None,
    }
}

/// Reads until the stream ends, echoing data messages if `echo`.
async fn read_all<S: Transport, R: Runtime>(
    ws: &mut WebSocket<S, R>,
    echo: bool,
    received: &mut Vec<String>,
) {
    while let Some(Ok(message)) = ws.next().await {
        if let Some(d) = describe(&message) {
            received.push(d);
        }
        if echo
            && matches!(message, Message::Text(_) | Message::Binary(_))
            && ws.send(message).await.is_err()
        {
            break;
        }
    }
}

/// The page a browser loads at `/`: its script exchanges text and binary messages with `/echo`,
/// closes with 4003, then reports what it saw (close code, reason, wasClean) to `/report`.
pub const PAGE: &str = r#"<!doctype html><meta charset="utf-8"><title>interop</title><script>
const results = { received: [] };
const ws = new WebSocket(`ws://${location.host}/echo`);
ws.binaryType = "arraybuffer";
ws.onopen = () => {
  results.extensions = ws.extensions;
  ws.send("héllo"); ws.send(new Uint8Array([1, 2, 3])); ws.send("x".repeat(100000));
};
ws.onmessage = (e) => {
  results.received.push(typeof e.data === "string"
    ? (e.data.length > 64 ? `text:${e.data.length}` : e.data) : `binary:${e.data.byteLength}`);
  if (results.received.length === 3) ws.close(4003, "browser bye");
};
ws.onclose = (e) => {
  Object.assign(results, { code: e.code, reason: e.reason, clean: e.wasClean });
  const report = new WebSocket(`ws://${location.host}/report`);
  report.onopen = () => { report.send(JSON.stringify(results)); report.close(1000); };
};
</script>"#;

/// How the server answers a request: the page at `/`, an upgrade anywhere else.
pub fn decide(path: &str) -> ws_driver::Decision {
    if path == "/" {
        let page = http::Response::builder()
            .status(200)
            .header("content-type", "text/html; charset=utf-8")
            .body(PAGE.into())
            .expect("a valid response");
        ws_driver::Decision::Respond(page)
    } else {
        ws_driver::Decision::accept()
    }
}

/// Server scenarios, chosen by the request path.
pub async fn serve<S: Transport, R: Runtime>(mut ws: WebSocket<S, R>, path: &str) -> String {
    let mut received = Vec::new();
    match path {
        // Echo until the client closes (client-initiated close, fragments, 16 MiB, ping).
        "/echo" => read_all(&mut ws, true, &mut received).await,
        // Send a last message, then close with our code and reason.
        "/server-close" => {
            let _ = ws.send(Message::text("last words")).await;
            let _ = ws.close(CloseCode(4000), "server bye").await;
            read_all(&mut ws, false, &mut received).await;
        }
        // Terminate at the first message.
        "/terminate" => {
            if let Some(Ok(message)) = ws.next().await {
                received.extend(describe(&message));
            }
            ws.terminate();
        }
        // Just read: the client terminates, vanishes, or closes at the same time as we do.
        "/both-close" => {
            let _ = ws.close(CloseCode(4001), "server too").await;
            read_all(&mut ws, false, &mut received).await;
        }
        // A browser's report of what it saw, kept whole.
        "/report" => {
            while let Some(Ok(message)) = ws.next().await {
                if let Message::Text(text) = message {
                    received.push(text.to_string());
                }
            }
        }
        _ => read_all(&mut ws, false, &mut received).await,
    }
    report(path, &received, ws.is_compressing(), ws.closed())
}

/// Client scenarios.
pub async fn client<S: Transport, R: Runtime>(mut ws: WebSocket<S, R>, scenario: &str) -> String {
    let mut received = Vec::new();
    match scenario {
        // Messages of every kind, echoed; then our close.
        "echo" => {
            let big = vec![0x5au8; 16 << 20];
            let sent = [
                Message::text("héllo"),
                Message::binary(vec![1u8, 2, 3]),
                ws_driver::fragment(ws_driver::MessageKind::Text, "frag", false),
                ws_driver::fragment(ws_driver::MessageKind::Text, "mented", true),
                Message::binary(big),
                Message::Ping("p".into()),
            ];
            for message in sent {
                if ws.feed(message).await.is_err() {
                    break;
                }
            }
            let _ = ws.flush().await;
            while received.len() < 5 {
                match ws.next().await {
                    Some(Ok(message)) => received.extend(describe(&message)),
                    _ => break,
                }
            }
            let _ = ws.close(CloseCode::NORMAL, "client bye").await;
        }
        // Send one message and drop the connection.
        "terminate" => {
            let _ = ws.send(Message::text("before terminate")).await;
            ws.terminate();
        }
        // Wait for whatever the server does (close, terminate).
        _ => read_all(&mut ws, false, &mut received).await,
    }
    report(scenario, &received, ws.is_compressing(), ws.closed())
}
