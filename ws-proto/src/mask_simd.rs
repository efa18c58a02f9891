//! Masking with AVX-512 or AVX2, chosen at run time: one of the two places `ws-proto` uses
//! `unsafe` (the other is `text.rs`).
//!
//! Why: unmasking is a pass over every received payload byte. Built for the x86-64 baseline
//! (what `cargo build` does unless told `-C target-cpu`), the portable loop is vectorised with
//! 16-byte SSE2 registers only; tokio-websockets and fastwebsockets pick AVX2/AVX-512 at run
//! time. `cargo bench -p ws-proto --bench codec -- unmask` measures the paths: on the
//! reference machine (AMD EPYC, Zen 4) 64 KiB went from 62 GB/s (portable) to 105 (AVX2) and
//! 140 (AVX-512), 1 KiB from 52 to 69 and 96.
//!
//! How: the same safe loop ([`crate::mask::xor_key`]) is compiled twice more, inside functions
//! with AVX-512F and with AVX2 enabled, and the widest one the CPU reports is called. Calling
//! them is the only unsafe operation; the loop itself is safe code. Without `std` (no run-time
//! detection) or off x86-64 this module is not built and the portable loop runs. (The XOR is a
//! "light" AVX-512 instruction: the CPUs that lower their clock for AVX-512 lower it least for
//! those.)
#![allow(unsafe_code)]

use alloc::vec::Vec;

/// Shorter buffers gain nothing: the detection and the call cost more than the wider loop saves
/// (the codec bench: 64 B went from 21.6 to 13.5 GB/s with AVX2; 1 KiB gains 30-80 %).
pub(crate) const SIMD_MIN: usize = 512;

/// Masks `buf` with `key` (already rotated to `buf`'s phase) using AVX-512 or AVX2 if the CPU
/// has one. Returns whether it did. Out of line, so the small-buffer path of its caller stays
/// small.
#[inline(never)]
pub(crate) fn xor(buf: &mut [u8], key: [u8; 4]) -> bool {
    let Some(width) = Width::widest() else {
        return false;
    };
    width.xor_key(buf, key);
    true
}

/// [`crate::mask::copy_xor_key`] with AVX-512 or AVX2 if the CPU has one, as [`xor`] does.
#[inline(never)]
pub(crate) fn copy_xor(dst: &mut [u8], src: &[u8], key: [u8; 4]) -> bool {
    let Some(width) = Width::widest() else {
        return false;
    };
    width.copy_xor_key(dst, src, key);
    true
}

/// [`crate::mask::extend_xor_key`] with AVX-512 or AVX2 if the CPU has one, as [`xor`] does.
#[inline(never)]
pub(crate) fn extend_xor(dst: &mut Vec<u8>, src: &[u8], key: [u8; 4]) -> bool {
    let Some(width) = Width::widest() else {
        return false;
    };
    width.extend_xor_key(dst, src, key);
    true
}

/// A vector extension this CPU has. Only [`Width::widest`] (and, in tests, `Width::each`) make
/// one, after the CPU reported the feature: holding a `Width` is the proof its builds may run.
#[derive(Clone, Copy, Debug)]
enum Width {
    Avx512,
    Avx2,
}

impl Width {
    /// The widest of the two the CPU has (`std` caches the detection: a load and a test).
    fn widest() -> Option<Width> {
        if std::is_x86_feature_detected!("avx512f") {
            Some(Width::Avx512)
        } else if std::is_x86_feature_detected!("avx2") {
            Some(Width::Avx2)
        } else {
            None
        }
    }

    /// Every one the CPU has, so the tests can check each build, not only the widest.
    #[cfg(test)]
    fn each() -> impl Iterator<Item = Width> {
        let avx512 = std::is_x86_feature_detected!("avx512f").then_some(Width::Avx512);
        let avx2 = std::is_x86_feature_detected!("avx2").then_some(Width::Avx2);
        avx512.into_iter().chain(avx2)
    }

    fn xor_key(self, buf: &mut [u8], key: [u8; 4]) {
        let (head, body, body_key) = split_at_line(buf, key);
        crate::mask::xor_key(head, key);
        match self {
            // SAFETY: a `Width` exists only once the CPU reported its feature (see the type);
            // the build has no other requirement (its body is safe code).
            Width::Avx512 => unsafe { xor_key_avx512(body, body_key) },
            // SAFETY: as above.
            Width::Avx2 => unsafe { xor_key_avx2(body, body_key) },
        }
    }

    fn copy_xor_key(self, dst: &mut [u8], src: &[u8], key: [u8; 4]) {
        let len = src.len().min(dst.len());
        let (mut dst, mut src, mut key) = (&mut dst[..len], &src[..len], key);
        let head = dst.as_ptr().align_offset(LINE);
        if head != 0 && head < LINE && len >= 2 * LINE {
            // The first line, unaligned, in one block of known length: a few vector
            // instructions, where a word loop over the head took ~25 per 1 KiB message. The loop
            // below then starts on the line boundary and writes the overlap again, with the
            // same bytes (copying allows that; masking in place does not).
            crate::mask::copy_xor_key(&mut dst[..LINE], &src[..LINE], key);
            dst = &mut dst[head..];
            src = &src[head..];
            key.rotate_left(head % 4);
        }
        match self {
            // SAFETY: a `Width` exists only once the CPU reported its feature (see the type);
            // the build has no other requirement (its body is safe code).
            Width::Avx512 => unsafe { copy_xor_key_avx512(dst, src, key) },
            // SAFETY: as above.
            Width::Avx2 => unsafe { copy_xor_key_avx2(dst, src, key) },
        }
    }

    fn extend_xor_key(self, dst: &mut Vec<u8>, src: &[u8], key: [u8; 4]) {
        match self {
            // SAFETY: a `Width` exists only once the CPU reported its feature (see the type);
            // the build has no other requirement (its body is safe code).
            Width::Avx512 => unsafe { extend_xor_key_avx512(dst, src, key) },
            // SAFETY: as above.
            Width::Avx2 => unsafe { extend_xor_key_avx2(dst, src, key) },
        }
    }
}

/// A cache line: the wide loops run fastest when their stores start on one.
const LINE: usize = 64;

/// Cuts `buf` where its first cache line boundary is (at most `LINE - 1` bytes in), so that the
/// wide loop runs over whole lines; returns the head, the body and the key rotated to the
/// body's phase (the head's is `key`). Why: a 64-byte store that straddles two lines costs two, and the
/// buffers met here are aligned to 16 bytes at best (the allocator) or anywhere (a frame in a
/// read buffer). `apply_mask` in place from a start 16 bytes past a line, AVX-512, AMD EPYC
/// (Zen 4), best of 7 loops over 1 GiB: 1 KiB 41 -> 52 GB/s, 16 KiB 160 -> 207 (64 KiB 144 ->
/// 176; starting on a line: 58 and 210). Copying (`copy_masked`, which starts with an
/// overlapping first line instead, `Width::copy_xor_key`): 1 KiB 46 -> 65, 16 KiB 162 -> 213.
/// In the echo it is within the noise (paired over 15 pairs: 0.97 / 1.01 at 1 KiB, 0.99 at
/// 16 KiB) and costs instructions: the wide loop's remainder, no longer a multiple of its
/// 256-byte steps, goes word by word (1 KiB echo 1,591 -> 1,654). tokio-websockets aligns the
/// same way (`align_to_mut`); this needs no `unsafe`.
fn split_at_line(buf: &mut [u8], key: [u8; 4]) -> (&mut [u8], &mut [u8], [u8; 4]) {
    // For bytes, `align_offset` is always computable; the `min` keeps any other answer in range.
    let head = buf.as_ptr().align_offset(LINE).min(buf.len());
    let mut body_key = key;
    body_key.rotate_left(head % 4);
    let (head, body) = buf.split_at_mut(head);
    (head, body, body_key)
}

/// One more build of a safe kernel of [`crate::mask`], compiled with a target feature enabled.
macro_rules! build_with {
    ($feature:literal, $name:ident, $kernel:ident($($arg:ident: $ty:ty),*)) => {
        #[doc = concat!("[`crate::mask::", stringify!($kernel), "`] compiled with `", $feature, "` enabled.")]
        ///
        /// # Safety
        /// The CPU must support that feature.
        #[target_feature(enable = $feature)]
        unsafe fn $name($($arg: $ty),*) {
            crate::mask::$kernel($($arg),*);
        }
    };
}

build_with!("avx512f", xor_key_avx512, xor_key(buf: &mut [u8], key: [u8; 4]));
build_with!("avx2", xor_key_avx2, xor_key(buf: &mut [u8], key: [u8; 4]));
build_with!("avx512f", copy_xor_key_avx512, copy_xor_key(dst: &mut [u8], src: &[u8], key: [u8; 4]));
build_with!("avx2", copy_xor_key_avx2, copy_xor_key(dst: &mut [u8], src: &[u8], key: [u8; 4]));
build_with!("avx512f", extend_xor_key_avx512, extend_xor_key(dst: &mut Vec<u8>, src: &[u8], key: [u8; 4]));
build_with!("avx2", extend_xor_key_avx2, extend_xor_key(dst: &mut Vec<u8>, src: &[u8], key: [u8; 4]));

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask::{apply_mask, apply_mask_portable};
    use alloc::format;

    /// Every path this CPU can run (the one `apply_mask` picks, and each wide build directly)
    /// gives the portable loop's result.
    #[test]
    fn each_wide_path_matches_the_portable_one_at_every_length_and_offset() {
        let mask = [0x9a, 0x01, 0xfe, 0x37];
        let data: Vec<u8> = (0..1300u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in (0..300).chain([511, 512, 513, 1024, 1199]) {
            for start in 0..4 {
                for offset in 0..8 {
                    let mut portable = data[start..start + len].to_vec();
                    apply_mask_portable(&mut portable, mask, offset);
                    let mut picked = data[start..start + len].to_vec();
                    apply_mask(&mut picked, mask, offset);
                    assert_eq!(picked, portable, "len {len} start {start} offset {offset}");
                    let mut key = mask;
                    key.rotate_left(offset % 4);
                    let src = &data[start..start + len];
                    for width in Width::each() {
                        let mut wide = src.to_vec();
                        width.xor_key(&mut wide, key);
                        assert_eq!(wide, portable, "{width:?} len {len} offset {offset}");
                        let mut copy = alloc::vec![0; len];
                        width.copy_xor_key(&mut copy, src, key);
                        assert_eq!(copy, portable, "{width:?} copy len {len} offset {offset}");
                        let mut appended = Vec::new();
                        width.extend_xor_key(&mut appended, src, key);
                        assert_eq!(appended, portable, "{width:?} append len {len}");
                    }
                }
            }
        }
    }

    /// The wide paths start their loop on a cache line boundary, after a head masked apart (in
    /// place, `split_at_line`) or an overlapping first line (copying): every distance from a
    /// boundary, with the key at every phase, and nothing written outside the buffer.
    #[test]
    fn each_wide_path_matches_the_portable_one_wherever_the_buffer_starts() {
        let mask = [0x9a, 0x01, 0xfe, 0x37];
        let data: Vec<u8> = (0..1400u32).map(|i| (i * 13 + 5) as u8).collect();
        for len in [0, 1, 63, 64, 65, 130, 512, 1000] {
            for offset in 0..4 {
                let mut expected = data[..len].to_vec();
                apply_mask_portable(&mut expected, mask, offset);
                let mut key = mask;
                key.rotate_left(offset);
                for width in Width::each() {
                    for start in 0..2 * LINE {
                        let mut buf = alloc::vec![0xee; start + len + 3];
                        buf[start..start + len].copy_from_slice(&data[..len]);
                        width.xor_key(&mut buf[start..start + len], key);
                        assert_masked_at(&buf, start, &expected, &format!("{width:?} in place"));
                        let mut out = alloc::vec![0xee; start + len + 3];
                        width.copy_xor_key(&mut out[start..start + len], &data[..len], key);
                        assert_masked_at(&out, start, &expected, &format!("{width:?} copy"));
                    }
                }
            }
        }
    }

    /// `buf` holds `expected` from `start`, and its 0xee filling everywhere else.
    fn assert_masked_at(buf: &[u8], start: usize, expected: &[u8], what: &str) {
        let end = start + expected.len();
        assert_eq!(
            &buf[start..end],
            expected,
            "{what}: len {} start {start}",
            expected.len()
        );
        assert!(
            buf[..start].iter().chain(&buf[end..]).all(|&b| b == 0xee),
            "{what}: outside"
        );
    }
}
