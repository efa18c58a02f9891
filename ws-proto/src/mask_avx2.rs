//! Masking with AVX2, chosen at run time: the one place `ws-proto` uses `unsafe`.
//!
//! Why: unmasking is a pass over every received payload byte. Built for the x86-64 baseline
//! (what `cargo build` does unless told `-C target-cpu`), the portable loop is vectorised with
//! 16-byte SSE2 registers only; tokio-websockets and fastwebsockets pick AVX2/AVX-512 at run
//! time. `cargo bench -p ws-proto --bench codec` (the "unmask" rows) measures both paths.
//!
//! How: the same safe loop ([`crate::mask::xor_key`]) is compiled a second time inside a
//! function with AVX2 enabled, and called only after the CPU reported AVX2. Calling it is the
//! only unsafe operation; the loop itself is safe code. Without `std` (no run-time detection)
//! or off x86-64 this module is not built and the portable loop runs.
#![allow(unsafe_code)]

/// Shorter buffers gain nothing: the detection and the call cost more than the wider loop saves
/// (the codec bench: 64 B went from 21.6 to 13.5 GB/s; 1 KiB gains 10 %, 64 KiB 2.6x).
pub(crate) const AVX2_MIN: usize = 512;

/// Masks `buf` with `key` (already rotated to `buf`'s phase) using AVX2 if the CPU has it.
/// Returns whether it did. Out of line, so the small-buffer path of its caller stays small.
#[inline(never)]
pub(crate) fn xor(buf: &mut [u8], key: [u8; 4]) -> bool {
    if !std::is_x86_feature_detected!("avx2") {
        return false;
    }
    // SAFETY: the CPU supports AVX2, checked just above; `xor_key_avx2` has no other
    // requirement (its body is safe code).
    unsafe { xor_key_avx2(buf, key) };
    true
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
    use crate::mask::{apply_mask, apply_mask_portable};
    use alloc::vec::Vec;

    #[test]
    fn the_avx2_path_matches_the_portable_one_at_every_length_and_offset() {
        let mask = [0x9a, 0x01, 0xfe, 0x37];
        let data: Vec<u8> = (0..1300u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in (0..300).chain([511, 512, 513, 1024, 1199]) {
            for start in 0..4 {
                for offset in 0..8 {
                    let mut fast = data[start..start + len].to_vec();
                    let mut portable = fast.clone();
                    apply_mask(&mut fast, mask, offset);
                    apply_mask_portable(&mut portable, mask, offset);
                    assert_eq!(fast, portable, "len {len} start {start} offset {offset}");
                }
            }
        }
    }
}
