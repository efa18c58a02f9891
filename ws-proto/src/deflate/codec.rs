//! The compressor and inflater of one connection (RFC 7692 section 7.2), on flate2's zlib-rs
//! backend (raw deflate, no zlib header).

use super::{DeflateConfig, DeflateParams};
use crate::event::Compression;
use crate::state::Role;
use alloc::vec::Vec;
use flate2::{Compress, Decompress, FlushCompress, FlushDecompress, Status};

/// What a sync flush ends with; removed from each compressed message and put back before
/// inflating it (RFC 7692 section 7.2.1 and 7.2.2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Output buffer capacity kept between messages; a larger one is freed after its message.
const KEEP_BUFFER: usize = 64 * 1024;

/// zlib cannot compress with an 8-bit window (raw deflate needs 9 to 15), so 8 is served with 9.
/// That stays within an 8-bit window: zlib never emits a distance beyond
/// `window - MIN_LOOKAHEAD` (512 - 262 = 250 < 256 bytes). Inflating with 9 likewise reads any
/// 8-bit stream.
fn zlib_window_bits(bits: u8) -> u8 {
    bits.clamp(9, 15)
}

/// Compresses this endpoint's outgoing messages.
pub(crate) struct Deflater {
    level: u32,
    threshold: usize,
    window_bits: u8,
    /// Reset (free) the state after every message.
    no_context_takeover: bool,
    /// Created by the first compressed message; `None` while there is no context to keep.
    state: Option<Compress>,
    /// Reused output buffer.
    buf: Vec<u8>,
}

/// The compressor failed (zlib-rs reports no error for valid use; kept as a value anyway).
#[derive(Debug)]
pub(crate) struct CompressFailed;

impl Deflater {
    pub(crate) fn new(role: Role, config: &DeflateConfig, params: &DeflateParams) -> Deflater {
        let (window_bits, no_context_takeover) = match role {
            Role::Server => (
                params.server_max_window_bits,
                params.server_no_context_takeover,
            ),
            Role::Client => (
                params.client_max_window_bits,
                params.client_no_context_takeover,
            ),
        };
        Deflater {
            level: config.level.min(9),
            threshold: config.threshold,
            window_bits: zlib_window_bits(window_bits),
            no_context_takeover,
            state: None,
            buf: Vec::new(),
        }
    }

    /// Whether a message whose (first) payload is `len` bytes goes out compressed.
    pub(crate) fn wants(&self, len: usize, compression: Compression) -> bool {
        match compression {
            Compression::Auto => len >= self.threshold,
            Compression::Always => true,
            Compression::Never => false,
        }
    }

    /// Compresses one frame's worth of a message. With `fin`, the message ends: the sync-flush
    /// tail is removed and, without context takeover, the state is freed.
    pub(crate) fn compress(&mut self, data: &[u8], fin: bool) -> Result<&[u8], CompressFailed> {
        let (level, bits) = (self.level, self.window_bits);
        let state = self.state.get_or_insert_with(|| {
            Compress::new_with_window_bits(flate2::Compression::new(level), false, bits)
        });
        self.buf.clear();
        // Incompressible data grows by a few bytes per 16 KiB block.
        self.buf.reserve(data.len() + data.len() / 1024 + 16);
        let mut input = data;
        loop {
            if self.buf.len() == self.buf.capacity() {
                self.buf.reserve(self.buf.capacity().max(64));
            }
            let before = state.total_in();
            let result = state.compress_vec(input, &mut self.buf, FlushCompress::Sync);
            if result.is_err() {
                self.state = None;
                return Err(CompressFailed);
            }
            let consumed = (state.total_in() - before) as usize;
            input = input.get(consumed..).unwrap_or_default();
            // The flush is complete once all input is in and zlib stopped short of a full buffer.
            if input.is_empty() && self.buf.len() < self.buf.capacity() {
                break;
            }
        }
        if fin {
            if self.buf.ends_with(&TAIL) {
                self.buf.truncate(self.buf.len() - TAIL.len());
            } else {
                // No new input since the last flush, so zlib wrote nothing. The receiver appends
                // the tail (an empty stored block's LEN/NLEN), which must follow a block header:
                // 0x00 is that header (BFINAL 0, stored), as in RFC 7692 section 7.2.3.6.
                self.buf.push(0x00);
            }
            if self.no_context_takeover {
                self.state = None;
            }
        }
        Ok(&self.buf)
    }

    /// Frees what a finished message left behind (call after the compressed bytes were queued).
    pub(crate) fn message_sent(&mut self) {
        if self.buf.capacity() > KEEP_BUFFER {
            self.buf = Vec::new();
        }
    }
}

impl core::fmt::Debug for Deflater {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Deflater")
            .field("window_bits", &self.window_bits)
            .field("no_context_takeover", &self.no_context_takeover)
            .field("active", &self.state.is_some())
            .finish_non_exhaustive()
    }
}

/// Why inflating a message stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InflateError {
    /// The message would inflate past the budget it was given.
    TooLarge,
    /// Not a valid deflate stream.
    Corrupt,
}

/// Inflates the peer's compressed messages.
pub(crate) struct Inflater {
    window_bits: u8,
    no_context_takeover: bool,
    state: Option<Decompress>,
    /// The peer ended the deflate stream (a block with BFINAL) in the current message.
    ended: bool,
}

impl Inflater {
    pub(crate) fn new(role: Role, params: &DeflateParams) -> Inflater {
        // We inflate what the peer compressed.
        let (window_bits, no_context_takeover) = match role {
            Role::Server => (
                params.client_max_window_bits,
                params.client_no_context_takeover,
            ),
            Role::Client => (
                params.server_max_window_bits,
                params.server_no_context_takeover,
            ),
        };
        Inflater {
            window_bits: zlib_window_bits(window_bits),
            no_context_takeover,
            state: None,
            ended: false,
        }
    }

    /// Inflates `input`, a piece of a compressed message, appending to `out`. At most `budget`
    /// bytes may be produced: the output buffer never grows past `budget + 1` bytes beyond where
    /// it started, so a bomb costs no more memory than the limit. Returns the bytes produced.
    pub(crate) fn inflate(
        &mut self,
        mut input: &[u8],
        out: &mut Vec<u8>,
        budget: usize,
    ) -> Result<usize, InflateError> {
        let start = out.len();
        let bits = self.window_bits;
        let state = self
            .state
            .get_or_insert_with(|| Decompress::new_with_window_bits(false, bits));
        while !input.is_empty() || out.len() == out.capacity() {
            if self.ended {
                // Bytes after the end of the stream (a BFINAL block) carry nothing; they are
                // ignored, as zlib's users do with its unused input.
                break;
            }
            let produced = out.len() - start;
            if out.len() == out.capacity() {
                // Room for one byte past the budget, so crossing it is detected.
                let room = (budget - produced).saturating_add(1);
                let grow = out.capacity().max(input.len()).max(1024).min(room);
                out.reserve_exact(grow);
            }
            let (in_before, out_before) = (state.total_in(), out.len());
            let status = state
                .decompress_vec(input, out, FlushDecompress::None)
                .map_err(|_| InflateError::Corrupt)?;
            let consumed = (state.total_in() - in_before) as usize;
            input = input.get(consumed..).unwrap_or_default();
            if out.len() - start > budget {
                return Err(InflateError::TooLarge);
            }
            match status {
                Status::StreamEnd => {
                    self.ended = true;
                    break;
                }
                _ if out.len() < out.capacity() => {
                    if input.is_empty() {
                        break;
                    }
                    if consumed == 0 && out.len() == out_before {
                        // No progress with room to spare: zlib wants nothing more of this.
                        return Err(InflateError::Corrupt);
                    }
                }
                _ => {}
            }
        }
        Ok(out.len() - start)
    }

    /// The message's last frame was inflated: feed the tail the sender removed, then reset the
    /// state if the peer does not keep its context (or ended its stream).
    pub(crate) fn finish_message(
        &mut self,
        out: &mut Vec<u8>,
        budget: usize,
    ) -> Result<usize, InflateError> {
        let result = if self.ended {
            Ok(0)
        } else {
            self.inflate(&TAIL, out, budget)
        };
        if self.no_context_takeover || self.ended || result.is_err() {
            self.state = None;
        }
        self.ended = false;
        result
    }
}

impl core::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Inflater")
            .field("window_bits", &self.window_bits)
            .field("no_context_takeover", &self.no_context_takeover)
            .field("active", &self.state.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::{format, vec};

    fn pair(params: DeflateParams) -> (Deflater, Inflater) {
        (
            Deflater::new(Role::Server, &DeflateConfig::default(), &params),
            Inflater::new(Role::Client, &params),
        )
    }

    fn round_trip(d: &mut Deflater, i: &mut Inflater, message: &[u8]) -> usize {
        let wire = d.compress(message, true).unwrap().to_vec();
        let mut out = Vec::new();
        i.inflate(&wire, &mut out, usize::MAX / 2).unwrap();
        i.finish_message(&mut out, usize::MAX / 2).unwrap();
        assert_eq!(out, message);
        wire.len()
    }

    #[test]
    fn rfc_7692_examples() {
        // Section 7.2.3.1: "Hello" compressed, the tail removed.
        let (mut d, mut i) = pair(DeflateParams::default());
        assert_eq!(
            d.compress(b"Hello", true).unwrap(),
            [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]
        );
        let mut out = Vec::new();
        i.inflate(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], &mut out, 100)
            .unwrap();
        i.finish_message(&mut out, 100).unwrap();
        assert_eq!(out, b"Hello");
        // 7.2.3.2: with context takeover the second "Hello" is a back-reference.
        assert_eq!(
            d.compress(b"Hello", true).unwrap(),
            [0xf2, 0x00, 0x11, 0x00, 0x00]
        );
        // 7.2.3.6: an empty message compresses to a single 0x00, with or without history.
        assert_eq!(d.compress(b"", true).unwrap(), [0x00]);
        let mut out = Vec::new();
        i.inflate(&[0x00], &mut out, 100).unwrap();
        i.finish_message(&mut out, 100).unwrap();
        assert!(out.is_empty());
        let (mut d, _) = pair(DeflateParams::default());
        assert_eq!(d.compress(b"", true).unwrap(), [0x00]);
        // 7.2.3.3: a stored (uncompressed) block inflates too.
        let (_, mut i) = pair(DeflateParams::default());
        let mut out = Vec::new();
        i.inflate(
            &[
                0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
            ],
            &mut out,
            100,
        )
        .unwrap();
        i.finish_message(&mut out, 100).unwrap();
        assert_eq!(out, b"Hello");
    }

    #[test]
    fn bfinal_blocks_end_the_message_stream() {
        // 7.2.3.4's BFINAL example: "Hello" in a final fixed block.
        let (_, mut i) = pair(DeflateParams::default());
        let mut out = Vec::new();
        i.inflate(&[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], &mut out, 100)
            .unwrap();
        i.finish_message(&mut out, 100).unwrap();
        assert_eq!(out, b"Hello");
        // The next message is a new stream.
        let mut out = Vec::new();
        i.inflate(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], &mut out, 100)
            .unwrap();
        i.finish_message(&mut out, 100).unwrap();
        assert_eq!(out, b"Hello");
    }

    #[test]
    fn context_takeover_and_reset() {
        // Words in a pseudo-random order: compressible, but not from within a single message.
        let words = [
            "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
        ];
        let mut seed = 7u32;
        let message: Vec<u8> = (0..400)
            .flat_map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                format!("{} {} ", words[(seed >> 16) as usize % 8], seed % 1000).into_bytes()
            })
            .collect();
        let (mut d, mut i) = pair(DeflateParams::default());
        let first = round_trip(&mut d, &mut i, &message);
        let second = round_trip(&mut d, &mut i, &message);
        assert!(second < first / 4, "{first} {second}");

        let reset = DeflateParams {
            server_no_context_takeover: true,
            ..DeflateParams::default()
        };
        let (mut d, mut i) = pair(reset);
        let first = round_trip(&mut d, &mut i, &message);
        assert!(d.state.is_none() && i.state.is_none());
        assert_eq!(round_trip(&mut d, &mut i, &message), first);
    }

    #[test]
    fn every_window_size_round_trips() {
        let data: Vec<u8> = (0..200_000u32)
            .map(|i| (i.wrapping_mul(i) % 251) as u8 ^ (i / 700) as u8)
            .collect();
        for bits in 8..=15 {
            let params = DeflateParams {
                server_max_window_bits: bits,
                ..DeflateParams::default()
            };
            let (mut d, mut i) = pair(params);
            round_trip(&mut d, &mut i, &data);
            round_trip(&mut d, &mut i, &data[..1000]);
        }
    }

    #[test]
    fn budget_stops_a_bomb_without_allocating_past_it() {
        let (mut d, mut i) = pair(DeflateParams::default());
        let bomb = d.compress(&vec![0u8; 10 << 20], true).unwrap().to_vec();
        assert!(bomb.len() < 11_000, "{}", bomb.len());
        let mut out = Vec::new();
        assert_eq!(
            i.inflate(&bomb, &mut out, 1 << 20),
            Err(InflateError::TooLarge)
        );
        assert!(out.capacity() <= (1 << 20) + 1, "{}", out.capacity());
    }

    #[test]
    fn garbage_is_corrupt() {
        let (_, mut i) = pair(DeflateParams::default());
        let mut out = Vec::new();
        assert_eq!(
            i.inflate(&[0xff, 0xff, 0xff, 0xff], &mut out, 100),
            Err(InflateError::Corrupt)
        );
    }
}
