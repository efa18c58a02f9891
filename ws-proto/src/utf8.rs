//! Incremental UTF-8 validation for text that arrives in pieces.
//!
//! A text message may be split across frames and each frame across reads, with code points cut
//! anywhere. Autobahn's 6.4.x cases require failing at the first invalid byte, even inside a frame
//! that has only partly arrived, so validation runs on every piece as it arrives. `simdutf8`'s
//! `compat` validator (the same answers as `core::str::from_utf8`, with SIMD) reports whether a
//! failure is a real error or just a truncated sequence at the end (`Utf8Error::error_len`), and it rejects impossible prefixes (`F4 90`, `ED A0`) as soon as
//! they are seen; we only carry the (at most three) bytes of a truncated code point to the next piece.

/// Validates a byte stream fed piece by piece.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Utf8Validator {
    /// Bytes of a code point cut at the end of the previous piece.
    partial: [u8; 4],
    partial_len: usize,
}

/// The stream is not UTF-8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidUtf8;

impl Utf8Validator {
    /// A validator at the start of a stream.
    pub const fn new() -> Self {
        Utf8Validator {
            partial: [0; 4],
            partial_len: 0,
        }
    }

    /// Checks the next piece. Fails as soon as the bytes seen so far cannot start valid UTF-8.
    pub fn feed(&mut self, mut input: &[u8]) -> Result<(), InvalidUtf8> {
        if self.partial_len > 0 {
            // Complete the carried code point with up to 3 more bytes.
            let take = input.len().min(4 - self.partial_len);
            let mut joined = self.partial;
            joined[self.partial_len..self.partial_len + take].copy_from_slice(&input[..take]);
            let joined_len = self.partial_len + take;
            match simdutf8::compat::from_utf8(&joined[..joined_len]) {
                Ok(_) => {
                    self.partial_len = 0;
                    input = &input[take..];
                }
                Err(e) if e.error_len().is_some() => return Err(InvalidUtf8),
                Err(e) if e.valid_up_to() >= self.partial_len => {
                    // The carried code point is complete; re-check the rest from where it ended.
                    let used = e.valid_up_to() - self.partial_len;
                    self.partial_len = 0;
                    input = &input[used..];
                }
                Err(_) => {
                    // Still truncated: `input` was too short to finish it.
                    self.partial = joined;
                    self.partial_len = joined_len;
                    return Ok(());
                }
            }
        }
        match simdutf8::compat::from_utf8(input) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_some() => Err(InvalidUtf8),
            Err(e) => {
                let tail = &input[e.valid_up_to()..];
                self.partial[..tail.len()].copy_from_slice(tail);
                self.partial_len = tail.len();
                Ok(())
            }
        }
    }

    /// Whether the stream so far ends on a code point boundary (required at the end of a message).
    pub fn is_complete(&self) -> bool {
        self.partial_len == 0
    }

    /// Ends the stream: fails if it stopped in the middle of a code point.
    pub fn finish(&mut self) -> Result<(), InvalidUtf8> {
        let complete = self.is_complete();
        *self = Utf8Validator::new();
        if complete {
            Ok(())
        } else {
            Err(InvalidUtf8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid_in_pieces(bytes: &[u8]) -> Result<(), InvalidUtf8> {
        // Feed split at every pair of offsets, and byte by byte; all must agree with one feed.
        let mut whole = Utf8Validator::new();
        let expected = whole.feed(bytes).and_then(|_| whole.finish());
        for cut in 0..=bytes.len() {
            let mut v = Utf8Validator::new();
            let got = v
                .feed(&bytes[..cut])
                .and_then(|_| v.feed(&bytes[cut..]))
                .and_then(|_| v.finish());
            assert_eq!(got, expected, "cut at {cut} of {bytes:x?}");
        }
        let mut v = Utf8Validator::new();
        let got = bytes
            .iter()
            .try_for_each(|b| v.feed(core::slice::from_ref(b)))
            .and_then(|_| v.finish());
        assert_eq!(got, expected, "byte by byte {bytes:x?}");
        expected
    }

    #[test]
    fn accepts_valid_text_cut_anywhere() {
        assert!(valid_in_pieces("κόσμε, hello, \u{10FFFF}, 𝄞".as_bytes()).is_ok());
        assert!(valid_in_pieces(b"").is_ok());
    }

    #[test]
    fn rejects_invalid_sequences() {
        for bad in [
            &[0xff][..],
            &[0xc0, 0x80],
            &[0xed, 0xa0, 0x80],       // surrogate
            &[0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
            &[0xce, 0xba, 0xe1],       // truncated at the end
            &[0x80],
        ] {
            assert_eq!(valid_in_pieces(bad), Err(InvalidUtf8), "{bad:x?}");
        }
    }

    #[test]
    fn fails_fast_on_an_impossible_prefix() {
        // Autobahn 6.4.x: F4 90 can never become valid, so fail before the rest arrives.
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(&[0xce, 0xba, 0xf4]), Ok(()));
        assert_eq!(v.feed(&[0x90]), Err(InvalidUtf8));
    }

    #[test]
    fn truncated_stream_is_valid_until_finished() {
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(&[0xf0, 0x9d]), Ok(()));
        assert!(!v.is_complete());
        assert_eq!(v.finish(), Err(InvalidUtf8));
    }
}
