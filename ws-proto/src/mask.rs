//! Payload masking (RFC 6455 section 5.3) and where client masks come from.

use alloc::vec::Vec;

/// Supplies the 32-bit masking keys a client puts on every frame it sends.
///
/// RFC 6455 section 5.3 requires each key to be unpredictable ("derived from a strong source of
/// entropy") so that a hostile page cannot steer the bytes on the wire into something an
/// intermediary misreads. The core has no randomness of its own: adapters pass a source backed by
/// the operating system's RNG; tests and fuzzers pass a fixed or seeded one so output is byte-exact.
///
/// Any `FnMut() -> [u8; 4]` closure is a `MaskSource`.
pub trait MaskSource {
    /// The key for the next frame.
    fn next_mask(&mut self) -> [u8; 4];
}

impl<F: FnMut() -> [u8; 4]> MaskSource for F {
    fn next_mask(&mut self) -> [u8; 4] {
        self()
    }
}

/// Always the same key. Only for tests and fuzzing: a predictable mask defeats the purpose of
/// masking on a real network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedMask(pub [u8; 4]);

impl MaskSource for FixedMask {
    fn next_mask(&mut self) -> [u8; 4] {
        self.0
    }
}

/// The source a server uses: servers never mask, so asking it for a key is a logic error that
/// the connection prevents by construction. It returns zeros rather than panicking.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct NoMask;

impl MaskSource for NoMask {
    fn next_mask(&mut self) -> [u8; 4] {
        [0; 4]
    }
}

/// XORs `buf` with `mask`, as if `buf` started `offset` bytes into a masked payload.
///
/// Masking is its own inverse, so this both masks and unmasks. The offset lets a payload that
/// arrives in several reads be unmasked piece by piece. With the `std` feature on x86-64, buffers
/// of 512 bytes and more use AVX-512 or AVX2 when the CPU has one (`mask_simd.rs`);
/// otherwise [`apply_mask_portable`] (the same result, eight bytes at a time).
pub fn apply_mask(buf: &mut [u8], mask: [u8; 4], offset: usize) {
    let mut key = mask;
    key.rotate_left(offset % 4);
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if buf.len() >= crate::mask_simd::SIMD_MIN && crate::mask_simd::xor(buf, key) {
        return;
    }
    xor_key(buf, key);
}

/// Copies `src` into `dst` XORed with `mask`, as [`apply_mask`] on a copy would, in one pass over
/// the bytes instead of two: receiving a whole frame from a driver's buffer is a copy into the
/// message's own buffer, and at 64 KiB that copy and the unmasking pass after it were a tenth
/// of the server's CPU. Copies as many bytes as the shorter of the two holds.
#[inline]
pub(crate) fn copy_masked(dst: &mut [u8], src: &[u8], mask: [u8; 4], offset: usize) {
    let mut key = mask;
    key.rotate_left(offset % 4);
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if src.len().min(dst.len()) >= crate::mask_simd::SIMD_MIN
        && crate::mask_simd::copy_xor(dst, src, key)
    {
        return;
    }
    copy_xor_key(dst, src, key);
}

/// Appends `src` XORed with `mask` (as if `src` started `offset` bytes into a masked payload) to
/// `dst`: [`copy_masked`] for a buffer that has no room initialized yet (a fresh one), without
/// zero-filling it first.
pub(crate) fn extend_masked(dst: &mut Vec<u8>, src: &[u8], mask: [u8; 4], offset: usize) {
    let mut key = mask;
    key.rotate_left(offset % 4);
    dst.reserve(src.len());
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if src.len() >= crate::mask_simd::SIMD_MIN && crate::mask_simd::extend_xor(dst, src, key) {
        return;
    }
    extend_xor_key(dst, src, key);
}

/// Bytes unmasked at a time by [`extend_xor_key`]: a few vector registers, kept in L1 on the
/// stack between the XOR and the append. A multiple of 4, so every block starts on the key's
/// first byte.
const EXTEND_BLOCK: usize = 64;

/// Appends `src` XORed with `key` repeated from its first byte, a block at a time through the
/// stack (safe Rust cannot write into a `Vec`'s spare capacity directly). Inlined into its
/// callers so that each is vectorised for its own target features.
#[inline(always)]
pub(crate) fn extend_xor_key(dst: &mut Vec<u8>, src: &[u8], key: [u8; 4]) {
    let mut blocks = src.chunks_exact(EXTEND_BLOCK);
    for block in &mut blocks {
        let mut out = [0u8; EXTEND_BLOCK];
        copy_xor_key(&mut out, block, key);
        dst.extend_from_slice(&out);
    }
    let rest = blocks.remainder();
    let mut out = [0u8; EXTEND_BLOCK];
    copy_xor_key(&mut out, rest, key);
    dst.extend_from_slice(&out[..rest.len()]);
}

/// [`apply_mask`] in portable safe code only: eight bytes at a time, in the vector width of the
/// compilation target. The reference the AVX-512 and AVX2 paths are tested against.
pub fn apply_mask_portable(buf: &mut [u8], mask: [u8; 4], offset: usize) {
    let mut key = mask;
    key.rotate_left(offset % 4);
    xor_key(buf, key);
}

/// XORs `buf` with `key` repeated from its first byte. Inlined into its callers so that each
/// is vectorised for its own target features.
#[inline(always)]
pub(crate) fn xor_key(buf: &mut [u8], key: [u8; 4]) {
    let wide = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    // The whole chunks covered a multiple of 8 bytes, so the key phase is unchanged here.
    for (byte, k) in chunks.into_remainder().iter_mut().zip(key.iter().cycle()) {
        *byte ^= k;
    }
}

/// `dst[i] = src[i] ^ key[i % 4]` over the shorter of the two. Inlined into its callers so that
/// each is vectorised for its own target features.
#[inline(always)]
pub(crate) fn copy_xor_key(dst: &mut [u8], src: &[u8], key: [u8; 4]) {
    let len = dst.len().min(src.len());
    let (dst, src) = (&mut dst[..len], &src[..len]);
    let wide = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut to = dst.chunks_exact_mut(8);
    let mut from = src.chunks_exact(8);
    for (out, chunk) in (&mut to).zip(&mut from) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        out.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    let tail = to.into_remainder().iter_mut().zip(from.remainder());
    for ((out, byte), k) in tail.zip(key.iter().cycle()) {
        *out = byte ^ k;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn naive(buf: &mut [u8], mask: [u8; 4], offset: usize) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= mask[(offset + i) % 4];
        }
    }

    #[test]
    fn matches_the_bytewise_definition_at_every_length_and_offset() {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        for len in 0..40 {
            for offset in 0..8 {
                let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
                let mut fast = data.clone();
                let mut slow = data.clone();
                apply_mask(&mut fast, mask, offset);
                naive(&mut slow, mask, offset);
                assert_eq!(fast, slow, "len {len} offset {offset}");
            }
        }
    }

    #[test]
    fn copying_masked_equals_masking_a_copy_at_every_length_and_offset() {
        let mask = [0x9a, 0x01, 0xfe, 0x37];
        let data: Vec<u8> = (0..1400u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in (0..80).chain([511, 512, 513, 1024, 1299]) {
            for start in 0..4 {
                for offset in 0..8 {
                    let src = &data[start..start + len];
                    let mut expected = src.to_vec();
                    naive(&mut expected, mask, offset);
                    let mut got = alloc::vec![0xee; len + 3];
                    copy_masked(&mut got, src, mask, offset);
                    assert_eq!(got[..len], expected[..], "len {len} offset {offset}");
                    assert!(got[len..].iter().all(|&b| b == 0xee), "past the source");
                    let mut appended = alloc::vec![0xee; 3];
                    extend_masked(&mut appended, src, mask, offset);
                    assert_eq!(appended[..3], [0xee; 3], "appended after what was there");
                    assert_eq!(
                        appended[3..],
                        expected[..],
                        "appended len {len} offset {offset}"
                    );
                    let mut short = alloc::vec![0xee; len / 2];
                    copy_masked(&mut short, src, mask, offset);
                    assert_eq!(short[..], expected[..len / 2], "shorter destination");
                }
            }
        }
    }

    #[test]
    fn rfc_6455_example_masked_hello() {
        // RFC 6455 section 5.7: "Hello" masked with 37 fa 21 3d.
        let mut data = *b"Hello";
        apply_mask(&mut data, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(data, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    }

    #[test]
    fn piecewise_unmasking_equals_whole() {
        let mask = [1, 2, 3, 4];
        let mut whole = *b"a payload that arrives in pieces";
        let mut pieces = whole;
        apply_mask(&mut whole, mask, 0);
        let (a, b) = pieces.split_at_mut(5);
        apply_mask(a, mask, 0);
        apply_mask(b, mask, 5);
        assert_eq!(whole, pieces);
    }
}
