//! Heap held by idle server connections, counted exactly by a global allocator.
//!
//! This is the user-space half of the idle-memory benchmark (`scripts/bench`, RSS growth per
//! connection): what the connection's task, socket registration, WebSocket and core keep on the
//! heap once nothing flows. The goal for the whole per-connection footprint is 2 KiB,
//! so the heap part alone must stay under it; the bounds below sit ~7 % above what it measured
//! at 8975903 (1,497 B idle) and ~35 % above the 118 B one echo leaves, so that a regression
//! shows.

use futures_util::{SinkExt, StreamExt};
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// Counts the bytes currently allocated, process-wide.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded unchanged to `System`; the counter is only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const UPGRADE: &[u8] =
    b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// Blocking clients on their own thread (std sockets allocate nothing per connection worth
/// counting): each upgrades, does one 16-byte echo, then stays connected until `stop`.
fn clients(addr: std::net::SocketAddr, n: usize, done: mpsc::Sender<()>, stop: mpsc::Receiver<()>) {
    let payload = *b"0123456789abcdef";
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![0x82, 0x80 | 16];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    let mut echo = vec![0x82, 16];
    echo.extend_from_slice(&payload);

    let mut streams = Vec::with_capacity(n);
    let mut buf = [0u8; 18];
    for _ in 0..n {
        let mut tcp = std::net::TcpStream::connect(addr).unwrap();
        tcp.write_all(UPGRADE).unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8];
            tcp.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        tcp.write_all(&frame).unwrap();
        tcp.read_exact(&mut buf).unwrap();
        assert_eq!(&buf[..], &echo[..]);
        streams.push(tcp);
    }
    done.send(()).unwrap();
    let _ = stop.recv();
}

/// Accepts `n` connections, each served by [`echo`], and returns once `done` says the clients
/// got their echoes.
async fn accept_all(listener: &tokio::net::TcpListener, n: usize, done: &mpsc::Receiver<()>) {
    for _ in 0..n {
        let (stream, _) = listener.accept().await.unwrap();
        stream.set_nodelay(true).unwrap();
        tokio::spawn(echo(stream));
    }
    while done.try_recv().is_err() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn echo(stream: tokio::net::TcpStream) {
    let Ok(mut ws) = ws_tokio::accept(stream).await else {
        return;
    };
    while let Some(Ok(message)) = ws.next().await {
        if ws.send(message).await.is_err() {
            return;
        }
    }
}

#[test]
fn an_idle_server_connection_holds_under_1_75_kib_of_heap() {
    const N: usize = 300;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = ws_tokio::listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        // One connection first, so one-time allocations (the runtime's, the thread's shared
        // read buffer) are not charged to the N below.
        let (warm_done, warm_done_rx) = mpsc::channel();
        let (warm_stop, warm_stop_rx) = mpsc::channel();
        let warm = std::thread::spawn(move || clients(addr, 1, warm_done, warm_stop_rx));
        accept_all(&listener, 1, &warm_done_rx).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let before = LIVE.load(Ordering::Relaxed);

        let (done, done_rx) = mpsc::channel();
        let (stop, stop_rx) = mpsc::channel();
        let many = std::thread::spawn(move || clients(addr, N, done, stop_rx));
        accept_all(&listener, N, &done_rx).await;
        let busy = (LIVE.load(Ordering::Relaxed) - before) / N as isize;
        // Past the driver's idle release (1 s after the last read or write): what is left is
        // what an idle connection keeps.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let idle = (LIVE.load(Ordering::Relaxed) - before) / N as isize;
        eprintln!("heap per connection: {busy} B right after its echo, {idle} B idle");

        stop.send(()).unwrap();
        warm_stop.send(()).unwrap();
        many.join().unwrap();
        warm.join().unwrap();
        assert!(idle <= 1500, "{idle} bytes per idle connection");
        assert!(
            idle < busy,
            "the idle release freed nothing: {idle} B, {busy} B busy"
        );
        // What one echo leaves until the release: mostly the core's output queue storage, with
        // room for one item (118 B in all). With thousands of connections echoing at once this
        // is the peak the heap (and RSS) must grow to, so it is bounded too.
        assert!(
            busy - idle <= 160,
            "one echo left {} B per connection until the idle release",
            busy - idle
        );
    });
}
