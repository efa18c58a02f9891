//! Masking with AVX-512 or AVX2, chosen at run time: one of the two places `ws-proto` uses
//! `unsafe` (the other is `text.rs`).
//!
//! Why: unmasking is a pass over every received payload byte. Built for the x86-64 baseline
//! (what `cargo build` does unless told `-C target-cpu`), the portable loop is vectorised with
//! 16-byte SSE2 registers only; tokio-websockets and fastwebsockets pick AVX2/AVX-512 at run
//! time. `cargo bench -p ws-proto --bench codec` (the "unmask" rows) measures the paths: on the
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
    if std::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU supports AVX-512F, checked just above; `xor_key_avx512` has no other
        // requirement (its body is safe code).
        unsafe { xor_key_avx512(buf, key) };
        return true;
    }
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above; `xor_key_avx2` has no other
        // requirement (its body is safe code).
        unsafe { xor_key_avx2(buf, key) };
        return true;
    }
    false
}

/// [`crate::mask::copy_xor_key`] with AVX-512 or AVX2 if the CPU has one, as [`xor`] does.
#[inline(never)]
pub(crate) fn copy_xor(dst: &mut [u8], src: &[u8], key: [u8; 4]) -> bool {
    if std::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU supports AVX-512F, checked just above; `copy_xor_key_avx512` has no
        // other requirement (its body is safe code).
        unsafe { copy_xor_key_avx512(dst, src, key) };
        return true;
    }
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above; `copy_xor_key_avx2` has no other
        // requirement (its body is safe code).
        unsafe { copy_xor_key_avx2(dst, src, key) };
        return true;
    }
    false
}

/// [`crate::mask::extend_xor_key`] with AVX-512 or AVX2 if the CPU has one, as [`xor`] does.
#[inline(never)]
pub(crate) fn extend_xor(dst: &mut Vec<u8>, src: &[u8], key: [u8; 4]) -> bool {
    if std::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU supports AVX-512F, checked just above; `extend_xor_key_avx512` has no
        // other requirement (its body is safe code).
        unsafe { extend_xor_key_avx512(dst, src, key) };
        return true;
    }
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above; `extend_xor_key_avx2` has no other
        // requirement (its body is safe code).
        unsafe { extend_xor_key_avx2(dst, src, key) };
        return true;
    }
    false
}

/// [`crate::mask::extend_xor_key`] compiled with AVX-512F enabled.
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
unsafe fn extend_xor_key_avx512(dst: &mut Vec<u8>, src: &[u8], key: [u8; 4]) {
    crate::mask::extend_xor_key(dst, src, key);
}

/// [`crate::mask::extend_xor_key`] compiled with AVX2 enabled.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
unsafe fn extend_xor_key_avx2(dst: &mut Vec<u8>, src: &[u8], key: [u8; 4]) {
    crate::mask::extend_xor_key(dst, src, key);
}

/// [`crate::mask::copy_xor_key`] compiled with AVX-512F enabled.
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
unsafe fn copy_xor_key_avx512(dst: &mut [u8], src: &[u8], key: [u8; 4]) {
    crate::mask::copy_xor_key(dst, src, key);
}

/// [`crate::mask::copy_xor_key`] compiled with AVX2 enabled.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
unsafe fn copy_xor_key_avx2(dst: &mut [u8], src: &[u8], key: [u8; 4]) {
    crate::mask::copy_xor_key(dst, src, key);
}

/// [`crate::mask::xor_key`] compiled with AVX-512F enabled.
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
unsafe fn xor_key_avx512(buf: &mut [u8], key: [u8; 4]) {
    crate::mask::xor_key(buf, key);
}

/// [`crate::mask::xor_key`] compiled with AVX2 enabled.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
unsafe fn xor_key_avx2(buf: &mut [u8], key: [u8; 4]) {
    crate::mask::xor_key(buf, key);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask::{apply_mask, apply_mask_portable};

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
                    if std::is_x86_feature_detected!("avx512f") {
                        let mut wide = data[start..start + len].to_vec();
                        // SAFETY: AVX-512F checked just above.
                        unsafe { xor_key_avx512(&mut wide, key) };
                        assert_eq!(wide, portable, "avx512 len {len} offset {offset}");
                    }
                    if std::is_x86_feature_detected!("avx2") {
                        let mut wide = data[start..start + len].to_vec();
                        // SAFETY: AVX2 checked just above.
                        unsafe { xor_key_avx2(&mut wide, key) };
                        assert_eq!(wide, portable, "avx2 len {len} offset {offset}");
                    }
                    let src = &data[start..start + len];
                    if std::is_x86_feature_detected!("avx512f") {
                        let mut copy = alloc::vec![0; len];
                        // SAFETY: AVX-512F checked just above.
                        unsafe { copy_xor_key_avx512(&mut copy, src, key) };
                        assert_eq!(copy, portable, "avx512 copy len {len} offset {offset}");
                    }
                    if std::is_x86_feature_detected!("avx2") {
                        let mut copy = alloc::vec![0; len];
                        // SAFETY: AVX2 checked just above.
                        unsafe { copy_xor_key_avx2(&mut copy, src, key) };
                        assert_eq!(copy, portable, "avx2 copy len {len} offset {offset}");
                    }
                    if std::is_x86_feature_detected!("avx512f") {
                        let mut appended = Vec::new();
                        // SAFETY: AVX-512F checked just above.
                        unsafe { extend_xor_key_avx512(&mut appended, src, key) };
                        assert_eq!(appended, portable, "avx512 append len {len}");
                    }
                    if std::is_x86_feature_detected!("avx2") {
                        let mut appended = Vec::new();
                        // SAFETY: AVX2 checked just above.
                        unsafe { extend_xor_key_avx2(&mut appended, src, key) };
                        assert_eq!(appended, portable, "avx2 append len {len}");
                    }
                }
            }
        }
    }
}
