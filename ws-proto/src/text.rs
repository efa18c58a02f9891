//! A received text payload becomes a `String` after one SIMD validation pass: the second place
//! `ws-proto` uses `unsafe`.
//!
//! Why: `String::from_utf8` validates with core's scalar loop (an ASCII fast path aside). In the
//! echo benchmark it was 5-6 % of the server's CPU at 64 KiB text, where tokio-websockets spends
//! 2.4 % on `simdutf8`. A large message that arrives in several reads is validated twice (each
//! piece as it arrives, so a bad byte fails the connection at once, then the whole buffer to
//! build the `String`), so the scalar pass weighs more there. `cargo bench -p ws-proto --bench
//! codec` measures both (`decode/text/*` and `kernel/utf8-*`).
//!
//! How: `simdutf8::basic::from_utf8` (AVX2 or SSE4.2 chosen at run time with `std`, core's
//! validator without) checks the whole buffer here, right before the unchecked conversion, so
//! the unsafe call rests on this function alone: not on the incremental validation elsewhere in
//! the crate, and not on how the buffer was filled. Short payloads, where SIMD gains nothing,
//! take the safe `String::from_utf8` unless they are ASCII (`<[u8]>::is_ascii` reads a word at
//! a time: 16 bytes of ASCII cost a third of core's validator's instructions; callgrind, 16 B
//! text echo), and the tests compare the paths with the safe conversion on every kind of input.
#![allow(unsafe_code)]

use alloc::string::String;
use alloc::vec::Vec;

/// Below this length the safe conversion is as fast (simdutf8 itself falls back to core's
/// validator for inputs shorter than its 64-byte blocks).
const SIMD_MIN: usize = 64;

/// `bytes` as a `String` if they are UTF-8, as `String::from_utf8(bytes).ok()`.
pub(crate) fn string_from_utf8(bytes: Vec<u8>) -> Option<String> {
    if bytes.len() < SIMD_MIN {
        if bytes.is_ascii() {
            // SAFETY: ASCII is valid UTF-8, checked just above; `bytes` is not changed after.
            return Some(unsafe { String::from_utf8_unchecked(bytes) });
        }
        return String::from_utf8(bytes).ok();
    }
    simdutf8::basic::from_utf8(&bytes).ok()?;
    // SAFETY: `bytes` was checked to be valid UTF-8 just above and is not changed after.
    Some(unsafe { String::from_utf8_unchecked(bytes) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    fn agrees(bytes: &[u8]) {
        assert_eq!(
            string_from_utf8(bytes.to_vec()),
            String::from_utf8(bytes.to_vec()).ok(),
            "{bytes:x?}"
        );
    }

    #[test]
    fn short_payloads_take_the_ascii_path_only_when_every_byte_is_ascii() {
        for len in 0..=SIMD_MIN + 1 {
            let ascii = "x".repeat(len).into_bytes();
            agrees(&ascii);
            for at in 0..len {
                // A byte past ASCII anywhere: a lone continuation byte (invalid), and a valid
                // two-byte sequence where it fits.
                let mut bytes = ascii.clone();
                bytes[at] = 0x80;
                agrees(&bytes);
                if at + 1 < len {
                    bytes[at..at + 2].copy_from_slice("é".as_bytes());
                    agrees(&bytes);
                }
            }
        }
    }

    #[test]
    fn agrees_with_the_safe_conversion_on_valid_and_invalid_text() {
        let text = "ab€𝄞 κόσμε \u{10FFFF} ".repeat(40);
        for len in 0..text.len() {
            // Every prefix: valid, or cut inside a code point.
            agrees(&text.as_bytes()[..len]);
        }
        let bad: [&[u8]; 8] = [
            &[0xff],
            &[0xc0, 0x80],
            &[0xed, 0xa0, 0x80],
            &[0xf4, 0x90, 0x80, 0x80],
            &[0xe2, 0x82],
            &[0x80],
            &[0xf0, 0x9d, 0x84],
            &[0xc3, 0x28],
        ];
        for seq in bad {
            for at in [0, 1, 63, 64, 65, 200, 1000] {
                let mut bytes = "a".repeat(1100).into_bytes();
                bytes.splice(at..at + seq.len(), seq.iter().copied());
                agrees(&bytes);
                bytes.truncate(at + seq.len());
                agrees(&bytes);
            }
        }
        agrees(&[]);
        agrees(&vec![b'x'; 1 << 16]);
        assert_eq!(
            string_from_utf8(text.clone().into_bytes()),
            Some(text.to_string())
        );
    }
}
