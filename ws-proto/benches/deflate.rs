//! permessage-deflate cost: CPU per message to compress and to inflate, compression ratio, and
//! memory per connection, with and without context takeover.
//!
//! ```text
//! cargo bench -p ws-proto --bench deflate
//! ```
//!
//! Single-threaded, in memory (no sockets): a server `Connection` compresses each message, a
//! client `Connection` reads the frames. Times are the median of 5 runs. Memory is measured
//! with a counting allocator (live heap bytes) around one connection's first compressed message
//! each way, and after it went idle.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant as Clock;
use ws_proto::deflate::{DeflateConfig, DeflateParams};
use ws_proto::{Compression, Config, Connection, Event, FixedMask, Instant, Role};

/// Counts live heap bytes.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator unchanged and only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
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

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// Chat-like JSON messages of about `len` bytes: similar structure, varying content.
fn json_messages(count: usize, len: usize) -> Vec<Vec<u8>> {
    const WORDS: [&str; 12] = [
        "hello", "world", "status", "online", "message", "typing", "room", "lobby", "user",
        "update", "ping", "ready",
    ];
    let mut seed = 12_345u32;
    let mut next = move || {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        seed >> 8
    };
    (0..count)
        .map(|i| {
            let mut m = format!("{{\"id\":{i},\"type\":\"event\",\"items\":[");
            while m.len() < len - 40 {
                m.push_str(&format!(
                    "{{\"user\":\"{}{}\",\"text\":\"{} {} {}\",\"ts\":{}}},",
                    WORDS[next() as usize % 12],
                    next() % 10_000,
                    WORDS[next() as usize % 12],
                    WORDS[next() as usize % 12],
                    WORDS[next() as usize % 12],
                    1_700_000_000 + next() % 1_000_000
                ));
            }
            m.push_str("{}]}");
            m.into_bytes()
        })
        .collect()
}

fn random_messages(count: usize, len: usize) -> Vec<Vec<u8>> {
    let mut seed = 99u64;
    (0..count)
        .map(|_| {
            (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    (seed >> 56) as u8
                })
                .collect()
        })
        .collect()
}

fn config() -> Config {
    let mut config = Config::default();
    config.keepalive_interval = None;
    config.deflate = Some(DeflateConfig::default());
    config
}

fn params(context_takeover: bool) -> DeflateParams {
    DeflateParams {
        server_no_context_takeover: !context_takeover,
        client_no_context_takeover: !context_takeover,
        ..DeflateParams::default()
    }
}

fn pair(context_takeover: bool) -> (Connection, Connection) {
    let p = params(context_takeover);
    let server = Connection::new(
        Role::Server,
        Instant::ZERO,
        config(),
        FixedMask([1, 2, 3, 4]),
    )
    .with_deflate(p);
    let client = Connection::new(
        Role::Client,
        Instant::ZERO,
        config(),
        FixedMask([1, 2, 3, 4]),
    )
    .with_deflate(p);
    (server, client)
}

/// One run: (ns per message to compress, ns per message to inflate, wire bytes / plain bytes).
fn run(messages: &[Vec<u8>], context_takeover: bool, compression: Compression) -> (f64, f64, f64) {
    let (mut server, mut client) = pair(context_takeover);
    let mut frames = Vec::with_capacity(messages.len());
    let start = Clock::now();
    for m in messages {
        server.send_binary_with(m, compression).unwrap();
        let mut out = Vec::new();
        while server.poll(&mut out).is_some() {}
        frames.push(out);
    }
    let compress = start.elapsed();
    let start = Clock::now();
    let mut received = 0;
    for frame in &frames {
        client.handle_read(Instant::ZERO, frame);
        let mut out = Vec::new();
        while let Some(action) = client.poll(&mut out) {
            if let ws_proto::Action::Event(Event::Binary(b)) = action {
                received += b.len();
            }
        }
    }
    let inflate = start.elapsed();
    let plain: usize = messages.iter().map(Vec::len).sum();
    assert_eq!(received, plain);
    let wire: usize = frames.iter().map(Vec::len).sum();
    let n = messages.len() as f64;
    (
        compress.as_nanos() as f64 / n,
        inflate.as_nanos() as f64 / n,
        wire as f64 / plain as f64,
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let workloads = [
        ("JSON 1 KiB", json_messages(4000, 1024)),
        ("JSON 16 KiB", json_messages(500, 16 * 1024)),
        ("random 16 KiB", random_messages(500, 16 * 1024)),
    ];
    println!("| workload | mode | compress ns/msg | inflate ns/msg | compress MB/s | inflate MB/s | wire/plain |");
    println!("|---|---|---|---|---|---|---|");
    for (name, messages) in &workloads {
        let size = messages[0].len() as f64;
        for (mode, context, compression) in [
            ("uncompressed", true, Compression::Never),
            ("context takeover", true, Compression::Always),
            ("no context takeover", false, Compression::Always),
        ] {
            let runs: Vec<_> = (0..5)
                .map(|_| run(messages, context, compression))
                .collect();
            let c = median(runs.iter().map(|r| r.0).collect());
            let i = median(runs.iter().map(|r| r.1).collect());
            let ratio = runs[0].2;
            println!(
                "| {name} | {mode} | {c:.0} | {i:.0} | {:.0} | {:.0} | {ratio:.3} |",
                size / c * 1e3,
                size / i * 1e3
            );
        }
    }

    println!();
    println!(
        "| memory per connection (live heap bytes) | context takeover | no context takeover |"
    );
    println!("|---|---|---|");
    let message = &json_messages(1, 4096)[0];
    let mut rows = Vec::new();
    for context in [true, false] {
        let base = live();
        let (mut server, mut client) = pair(context);
        let created = live() - base;
        server
            .send_binary_with(message, Compression::Always)
            .unwrap();
        let mut wire = Vec::new();
        while server.poll(&mut wire).is_some() {}
        let after_send = live() - base - wire.capacity() as isize;
        client.handle_read(Instant::ZERO, &wire);
        let mut out = Vec::new();
        let mut delivered = None;
        while let Some(action) = client.poll(&mut out) {
            if let ws_proto::Action::Event(event) = action {
                delivered = Some(event);
            }
        }
        drop(delivered);
        drop(wire);
        let idle = live() - base;
        rows.push((created, after_send, idle));
        drop((server, client));
    }
    let row = |label: &str, f: &dyn Fn(&(isize, isize, isize)) -> isize| {
        println!("| {label} | {} | {} |", f(&rows[0]), f(&rows[1]));
    };
    row("server + client, just created", &|r| r.0);
    row("after the server compressed one 4 KiB message", &|r| r.1);
    row(
        "idle after it was inflated (server compressor + client inflater)",
        &|r| r.2,
    );
}
