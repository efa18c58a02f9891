//! The codec without sockets: ns and heap allocations per frame to decode (a server reading
//! masked client frames) and to encode (a server sending), and the masking and UTF-8 kernels
//! against `memcpy` of the same bytes.
//!
//! ```text
//! cargo bench -p ws-proto --bench codec
//! ```
//!
//! A plain timing harness (median of 7 runs) rather than criterion: criterion would be a
//! dev-dependency compiled by every `cargo test`, and these figures only need repeated timed
//! loops. Allocations are counted by a counting global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant as Clock;
use ws_proto::frame::{encode_frame, OpCode};
use ws_proto::mask::{apply_mask, apply_mask_portable};
use ws_proto::utf8::Utf8Validator;
use ws_proto::{Action, Config, Connection, Event, FixedMask, Instant, Role};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged and only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn config() -> Config {
    let mut config = Config::default();
    config.keepalive_interval = None;
    config
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Runs `f` 7 times; returns the median seconds and the allocations of the last run.
fn measure(mut f: impl FnMut()) -> (f64, usize) {
    let mut times = Vec::new();
    let mut allocations = 0;
    for _ in 0..7 {
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        let start = Clock::now();
        f();
        times.push(start.elapsed().as_secs_f64());
        allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    }
    (median(times), allocations)
}

fn codec() {
    println!("| frame payload | frames | decode ns/frame | decode allocs/frame | decode text ns/frame | encode ns/frame | encode allocs/frame |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (size, count) in [
        (14usize, 200_000usize),
        (125, 200_000),
        (1024, 100_000),
        (65536, 2_000),
    ] {
        let payload = vec![b'a'; size];
        let frames = |opcode| {
            let mut input = Vec::new();
            for _ in 0..count {
                encode_frame(&mut input, true, 0, opcode, Some(MASK), &payload);
            }
            input
        };
        // Decodes `input` in 64 KiB reads, as a driver would; returns the payload bytes seen.
        let decode_all = |input: &[u8]| {
            let mut conn = Connection::new(Role::Server, Instant::ZERO, config(), FixedMask(MASK));
            let mut out = Vec::new();
            let mut seen = 0;
            for chunk in input.chunks(64 * 1024) {
                conn.handle_read(Instant::ZERO, chunk);
                while let Some(action) = conn.poll(&mut out) {
                    match action {
                        Action::Event(Event::Binary(b)) => seen += b.len(),
                        Action::Event(Event::Text(t)) => seen += t.len(),
                        _ => {}
                    }
                }
            }
            seen
        };
        let binary = frames(OpCode::Binary);
        let (decode, decode_allocs) = measure(|| assert_eq!(decode_all(&binary), size * count));
        let text = frames(OpCode::Text);
        let (decode_text, _) = measure(|| assert_eq!(decode_all(&text), size * count));
        let (encode, encode_allocs) = measure(|| {
            let mut conn = Connection::new(Role::Server, Instant::ZERO, config(), FixedMask(MASK));
            let mut out = Vec::with_capacity(64 * 1024);
            for i in 0..count {
                conn.send_binary(&payload).unwrap();
                // A driver drains after every batch of 32 sends.
                if i % 32 == 31 {
                    while conn.poll(&mut out).is_some() {}
                    black_box(&out);
                    out.clear();
                }
            }
            while conn.poll(&mut out).is_some() {}
        });
        let n = count as f64;
        println!(
            "| {size} B | {count} | {:.0} | {:.2} | {:.0} | {:.0} | {:.2} |",
            decode / n * 1e9,
            (decode_allocs as f64 - 4.0).max(0.0) / n,
            decode_text / n * 1e9,
            encode / n * 1e9,
            encode_allocs as f64 / n,
        );
    }
}

fn kernels() {
    println!();
    println!("| kernel | 64 B | 1 KiB | 64 KiB | 1 MiB |");
    println!("|---|---:|---:|---:|---:|");
    let sizes = [64usize, 1024, 64 * 1024, 1 << 20];
    let gbps = |size: usize, f: &mut dyn FnMut()| {
        let reps = (64 << 20) / size;
        let (secs, _) = measure(|| {
            for _ in 0..reps {
                f();
            }
        });
        (size * reps) as f64 / secs / 1e9
    };
    let mut rows: Vec<(String, Vec<f64>)> = Vec::new();
    for offset in [0usize, 3] {
        let mut row = Vec::new();
        for &size in &sizes {
            let mut buf = vec![b'a'; size + 3];
            row.push(gbps(size, &mut || {
                apply_mask(black_box(&mut buf[offset..offset + size]), MASK, offset)
            }));
        }
        rows.push((format!("unmask, offset {offset}"), row));
    }
    // The portable loop alone, as a build without `std` or off x86-64 runs it.
    let mut row = Vec::new();
    for &size in &sizes {
        let mut buf = vec![b'a'; size];
        row.push(gbps(size, &mut || {
            apply_mask_portable(black_box(&mut buf[..]), MASK, 0)
        }));
    }
    rows.push(("unmask, portable loop, offset 0".into(), row));
    let mut row = Vec::new();
    for &size in &sizes {
        let text = vec![b'a'; size];
        row.push(gbps(size, &mut || {
            let mut v = Utf8Validator::new();
            v.feed(black_box(&text)).unwrap();
        }));
    }
    rows.push(("UTF-8 check (ASCII)".into(), row));
    let mut row = Vec::new();
    for &size in &sizes {
        let text = "héllo wörld ".repeat(size / 12 + 1).into_bytes()[..size].to_vec();
        let cut = std::str::from_utf8(&text).map_or_else(|e| e.valid_up_to(), |_| size);
        let text = &text[..cut];
        row.push(gbps(size, &mut || {
            let mut v = Utf8Validator::new();
            v.feed(black_box(text)).unwrap();
        }));
    }
    rows.push(("UTF-8 check (mixed 2-byte)".into(), row));
    let mut row = Vec::new();
    for &size in &sizes {
        let src = vec![b'a'; size];
        let mut dst = vec![0u8; size];
        row.push(gbps(size, &mut || dst.copy_from_slice(black_box(&src))));
    }
    rows.push(("memcpy (reference)".into(), row));
    for (name, row) in rows {
        let cells: Vec<String> = row.iter().map(|g| format!("{g:.1} GB/s")).collect();
        println!("| {name} | {} |", cells.join(" | "));
    }
}

fn main() {
    codec();
    kernels();
}
