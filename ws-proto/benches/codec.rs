//! The codec without sockets, under criterion: time per frame to decode (a server reading masked
//! client frames, fed in 64 KiB reads as a driver would) and to encode (a server sending, drained
//! every 32 frames), and the masking and UTF-8 kernels against `memcpy` of the same bytes.
//! Heap allocations per frame are counted once, before the timings, by a counting global
//! allocator (criterion times, it does not count), and printed as a table.
//!
//! ```text
//! cargo bench -p ws-proto --bench codec                      # everything, ~6 minutes
//! cargo bench -p ws-proto --bench codec -- decode/           # one group
//! cargo bench -p ws-proto --bench codec -- --save-baseline before
//! cargo bench -p ws-proto --bench codec -- --baseline before # after a change: is it a change?
//! ```
//!
//! Groups: `decode/{binary,text}/SIZE` and `encode/binary/SIZE` (throughput in frames: criterion
//! prints frames per second; ns per frame is its inverse), `kernel/NAME/SIZE` (throughput in
//! bytes). On a shared machine, criterion's baseline comparison is the way to tell a change from
//! noise: it reports whether the difference is significant.

use criterion::{BenchmarkId, Criterion, Throughput};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
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

/// Frame payload sizes, and how many frames one timed iteration decodes or encodes: enough that
/// creating the connection and growing its queues is noise next to them.
const FRAMES: [(usize, usize); 4] = [
    (14, 200_000),
    (125, 200_000),
    (1024, 100_000),
    (65536, 2_000),
];

/// Kernel input sizes.
const KERNEL_SIZES: [usize; 4] = [64, 1024, 64 * 1024, 1 << 20];

fn config() -> Config {
    let mut config = Config::default();
    config.keepalive_interval = None;
    config
}

/// `count` masked frames of `size` bytes each, as a client sends them.
fn frames(opcode: OpCode, size: usize, count: usize) -> Vec<u8> {
    let payload = vec![b'a'; size];
    let mut input = Vec::new();
    for _ in 0..count {
        encode_frame(&mut input, true, 0, opcode, Some(MASK), &payload);
    }
    input
}

/// Decodes `input` in 64 KiB reads, as a driver would; returns the payload bytes delivered.
fn decode_all(input: &[u8]) -> usize {
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
}

/// Sends `count` binary messages of `payload`, draining the output every 32 as a driver does
/// after a batch; returns the bytes produced.
fn encode_all(payload: &[u8], count: usize) -> usize {
    let mut conn = Connection::new(Role::Server, Instant::ZERO, config(), FixedMask(MASK));
    let mut out = Vec::with_capacity(64 * 1024);
    let mut produced = 0;
    for i in 0..count {
        conn.send_binary(payload).unwrap();
        if i % 32 == 31 {
            while conn.poll(&mut out).is_some() {}
            produced += black_box(&out).len();
            out.clear();
        }
    }
    while conn.poll(&mut out).is_some() {}
    produced + out.len()
}

/// Heap allocations `f` makes.
fn allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    f();
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

/// Allocations per frame, decoding and encoding (the connection's own setup subtracted: a
/// run of no frames).
fn allocation_table() {
    println!("| frame payload | decode allocations/frame | encode allocations/frame |");
    println!("|---|---:|---:|");
    let setup_decode = allocations(|| {
        decode_all(&[]);
    });
    let setup_encode = allocations(|| {
        encode_all(&[], 0);
    });
    for (size, count) in FRAMES {
        let binary = frames(OpCode::Binary, size, count);
        let decode = allocations(|| assert_eq!(decode_all(&binary), size * count));
        let payload = vec![b'a'; size];
        let encode = allocations(|| {
            black_box(encode_all(&payload, count));
        });
        println!(
            "| {size} B | {:.2} | {:.2} |",
            decode.saturating_sub(setup_decode) as f64 / count as f64,
            encode.saturating_sub(setup_encode) as f64 / count as f64,
        );
    }
    println!();
}

fn codec(c: &mut Criterion) {
    let mut decode = c.benchmark_group("decode");
    for (size, count) in FRAMES {
        decode.throughput(Throughput::Elements(count as u64));
        for (name, opcode) in [("binary", OpCode::Binary), ("text", OpCode::Text)] {
            let input = frames(opcode, size, count);
            decode.bench_with_input(BenchmarkId::new(name, size), &input, |b, input| {
                b.iter(|| assert_eq!(decode_all(input), size * count))
            });
        }
    }
    decode.finish();
    let mut encode = c.benchmark_group("encode");
    for (size, count) in FRAMES {
        encode.throughput(Throughput::Elements(count as u64));
        let payload = vec![b'a'; size];
        encode.bench_with_input(BenchmarkId::new("binary", size), &payload, |b, payload| {
            b.iter(|| encode_all(payload, count))
        });
    }
    encode.finish();
}

fn kernels(c: &mut Criterion) {
    let mut group = c.benchmark_group("kernel");
    for size in KERNEL_SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        for offset in [0usize, 3] {
            let mut buf = vec![b'a'; size + 3];
            group.bench_function(
                BenchmarkId::new(format!("unmask-offset-{offset}"), size),
                |b| b.iter(|| apply_mask(black_box(&mut buf[offset..offset + size]), MASK, offset)),
            );
        }
        // The portable loop alone, as a build without `std` or off x86-64 runs it.
        let mut buf = vec![b'a'; size];
        group.bench_function(BenchmarkId::new("unmask-portable", size), |b| {
            b.iter(|| apply_mask_portable(black_box(&mut buf[..]), MASK, 0))
        });
        let ascii = vec![b'a'; size];
        group.bench_function(BenchmarkId::new("utf8-ascii", size), |b| {
            b.iter(|| Utf8Validator::new().feed(black_box(&ascii)).unwrap())
        });
        let mixed = "héllo wörld ".repeat(size / 12 + 1).into_bytes();
        let cut = std::str::from_utf8(&mixed[..size]).map_or_else(|e| e.valid_up_to(), |_| size);
        let mixed = &mixed[..cut];
        group.bench_function(BenchmarkId::new("utf8-mixed-2-byte", size), |b| {
            b.iter(|| Utf8Validator::new().feed(black_box(mixed)).unwrap())
        });
        let src = vec![b'a'; size];
        let mut dst = vec![0u8; size];
        group.bench_function(BenchmarkId::new("memcpy", size), |b| {
            b.iter(|| dst.copy_from_slice(black_box(&src)))
        });
    }
    group.finish();
}

fn main() {
    allocation_table();
    let mut c = Criterion::default().configure_from_args();
    codec(&mut c);
    kernels(&mut c);
    c.final_summary();
}
