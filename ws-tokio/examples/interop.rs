//! Interop peer for scripts/interop: `interop server ADDR` runs the server scenarios (chosen by
//! path) and `interop client URL SCENARIO` a client scenario; each connection prints one JSON
//! line with what this side observed. The scenarios are shared by all runtimes.

#[path = "../../interop/scenarios.rs"]
mod scenarios;

use std::io::Write;
use std::time::Duration;
use ws_tokio::Config;

/// Short keepalive so a vanished peer is detected within seconds.
fn config() -> Config {
    let mut config = Config::default();
    config.protocol.keepalive_interval = Some(Duration::from_millis(500));
    config.protocol.keepalive_timeout = Duration::from_millis(500);
    config.protocol.close_timeout = Duration::from_secs(2);
    config
}

fn print(line: String) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    run().await
}

async fn run() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("server") => {
            let addr = args.get(1).map_or("127.0.0.1:9001", String::as_str);
            let listener = ws_tokio::listen(addr.parse().map_err(std::io::Error::other)?)?;
            print(format!("listening {}", listener.local_addr()?));
            loop {
                let (stream, _) = listener.accept().await?;
                tokio::spawn(async move {
                    let mut path = String::new();
                    let accepted = ws_tokio::accept_with(stream, config(), |request| {
                        path = request.uri().path().to_string();
                        scenarios::decide(&path)
                    })
                    .await;
                    if let Ok(ws) = accepted {
                        print(scenarios::serve(ws, &path).await);
                    }
                });
            }
        }
        Some("client") => {
            let url = args.get(1).map_or("ws://127.0.0.1:9001/", String::as_str);
            let scenario = args.get(2).map_or("echo", String::as_str);
            let request =
                ws_tokio::ws_proto::ClientHandshake::request(url).map_err(std::io::Error::other)?;
            let (ws, _) = ws_tokio::connect_with(request, config())
                .await
                .map_err(std::io::Error::other)?;
            print(scenarios::client(ws, scenario).await);
            Ok(())
        }
        _ => Err(std::io::Error::other(
            "usage: interop server ADDR | interop client URL SCENARIO",
        )),
    }
}
