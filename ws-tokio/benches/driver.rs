//! User-space cost of the driver per message, without a kernel: a WebSocket over an in-memory
//! stream that hands out client frames in batches and swallows whatever is written. It runs the
//! echo loop of `bench/` (read a batch, feed each message back, flush once) and the
//! per-message loop (`send` = feed + flush), so a change to the driver or the core shows up as
//! ns per message with the socket syscalls (about 3/4 of a real echo server's CPU at 16 B) out of
//! the picture.
//!
//!     cargo bench -p ws-tokio --bench driver
//!     cargo bench -p ws-tokio --bench driver -- 16 [text] [each|receive]   # one workload
//!
//! A plain timing harness (median of 7 runs); the codec and kernel benchmarks
//! (`ws-proto/benches/codec.rs`) run under criterion.

use futures_util::{SinkExt, StreamExt};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use ws_proto::frame::{encode_frame, OpCode};
use ws_tokio::{Config, Message, Role};

/// Serves `batch` (encoded client frames) `rounds` times, one batch per read; then EOF.
struct Replay {
    batch: Vec<u8>,
    rounds: usize,
    pos: usize,
    written: usize,
}

impl AsyncRead for Replay {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.rounds == 0 {
            return Poll::Ready(Ok(()));
        }
        let n = (self.batch.len() - self.pos).min(buf.remaining());
        buf.put_slice(&self.batch[self.pos..self.pos + n]);
        self.pos += n;
        if self.pos == self.batch.len() {
            self.pos = 0;
            self.rounds -= 1;
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Replay {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.written += buf.len();
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let n = bufs.iter().map(|b| b.len()).sum();
        self.written += n;
        Poll::Ready(Ok(n))
    }
    fn is_write_vectored(&self) -> bool {
        true
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn client_batch(size: usize, per_batch: usize, text: bool) -> Vec<u8> {
    let payload = vec![b'a'; size];
    let opcode = if text { OpCode::Text } else { OpCode::Binary };
    let mut out = Vec::new();
    for _ in 0..per_batch {
        encode_frame(&mut out, true, 0, opcode, Some([1, 2, 3, 4]), &payload);
    }
    out
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A server WebSocket over a `Replay` of about `messages` client frames, `batch` per read.
fn server_over(
    size: usize,
    text: bool,
    batch: usize,
    messages: usize,
) -> ws_tokio::WebSocket<Replay> {
    let io = Replay {
        batch: client_batch(size, batch, text),
        rounds: messages / batch,
        pos: 0,
        written: 0,
    };
    ws_tokio::from_raw_socket(io, Role::Server, Config::default())
}

/// ns per message received (and dropped) for one run of `messages` messages.
fn run_receive(size: usize, text: bool, messages: usize) -> f64 {
    const BATCH: usize = 64;
    runtime().block_on(async {
        let mut ws = server_over(size, text, BATCH, messages);
        let start = Instant::now();
        let mut received = 0;
        while let Some(Ok(m)) = ws.next().await {
            received += usize::from(matches!(m, Message::Binary(_) | Message::Text(_)));
        }
        let elapsed = start.elapsed();
        assert_eq!(received, messages / BATCH * BATCH);
        elapsed.as_nanos() as f64 / received as f64
    })
}

/// ns per message for one run of `messages` messages.
fn run(size: usize, text: bool, per_message_flush: bool, messages: usize) -> f64 {
    const BATCH: usize = 8;
    runtime().block_on(async {
        let mut ws = server_over(size, text, BATCH, messages);
        let start = Instant::now();
        let mut echoed = 0;
        let mut batch = Vec::with_capacity(BATCH);
        'outer: loop {
            while batch.len() < BATCH {
                match ws.next().await {
                    Some(Ok(m @ (Message::Binary(_) | Message::Text(_)))) => batch.push(m),
                    Some(Ok(_)) => {}
                    _ => break 'outer,
                }
            }
            for m in batch.drain(..) {
                if per_message_flush {
                    ws.send(m).await.unwrap();
                } else {
                    ws.feed(m).await.unwrap();
                }
                echoed += 1;
            }
            if !per_message_flush {
                ws.flush().await.unwrap();
            }
        }
        let elapsed = start.elapsed();
        assert_eq!(echoed, messages / BATCH * BATCH);
        elapsed.as_nanos() as f64 / echoed as f64
    })
}

fn main() {
    // `driver SIZE [text] [each]`: one workload, for profiling.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if let Some(size) = args.first().and_then(|a| a.parse::<usize>().ok()) {
        let text = args.iter().any(|a| a == "text");
        let each = args.iter().any(|a| a == "each");
        let messages = 20_000_000 / (size / 16).max(1);
        if args.iter().any(|a| a == "receive") {
            println!("{:.0} ns/msg", run_receive(size, text, messages));
        } else {
            println!("{:.0} ns/msg", run(size, text, each, messages));
        }
        return;
    }
    println!("| workload | ns/msg (median of 7) |");
    println!("|---|---:|");
    for (size, messages) in [(16, 4_000_000), (1024, 1_000_000)] {
        for text in [false, true] {
            let mut runs: Vec<f64> = (0..7).map(|_| run_receive(size, text, messages)).collect();
            runs.sort_by(f64::total_cmp);
            let kind = if text { "text" } else { "binary" };
            println!("| receive {size} B {kind} | {:.0} |", runs[3]);
        }
    }
    for (size, messages) in [(16, 2_000_000), (1024, 1_000_000), (64 * 1024, 50_000)] {
        for text in [false, true] {
            for per_message_flush in [false, true] {
                let mut runs: Vec<f64> = (0..7)
                    .map(|_| run(size, text, per_message_flush, messages))
                    .collect();
                runs.sort_by(f64::total_cmp);
                println!(
                    "| echo {size} B {} {} | {:.0} |",
                    if text { "text" } else { "binary" },
                    if per_message_flush {
                        "send each"
                    } else {
                        "feed + flush"
                    },
                    runs[3]
                );
            }
        }
    }
}
