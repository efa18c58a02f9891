//! Text messages as [`Utf8Bytes`]: shared bytes known to be UTF-8, checked in one SIMD pass. The
//! second place `ws-proto` uses `unsafe`.
//!
//! Why bytes and not `String`: a large text message that arrives whole in a buffer the
//! connection may take apart ([`Connection::handle_read_buf`](crate::Connection::handle_read_buf))
//! is handed out as a slice of it, unmasked and checked in place, as binary messages are; a
//! `String` would need a copy of its own. tokio-tungstenite's `Message::Text` holds the same kind
//! of type (its `Utf8Bytes`) since 0.26.
//!
//! Why SIMD: `core::str::from_utf8` validates with a scalar loop (an ASCII fast path aside). In
//! the echo benchmark it was 5-6 % of the server's CPU at 64 KiB text, where tokio-websockets
//! spends 2.4 % on `simdutf8`. A large message that arrives in several reads is validated twice
//! (each piece as it arrives, so a bad byte fails the connection at once, then the whole buffer
//! here), so the scalar pass weighs more there. `cargo bench -p ws-proto --bench codec`
//! measures both (`decode/text/*` and `kernel/utf8-*`).
//!
//! How: every way to make a [`Utf8Bytes`] either starts from a `str` or checks the whole buffer
//! with [`is_utf8`] (`simdutf8::basic::from_utf8`, AVX2 or SSE4.2 chosen at run time with `std`,
//! core's validator without; under 64 bytes `<[u8]>::is_ascii`, word at a time, then core's
//! validator), and the bytes are never changed after: [`Utf8Bytes::as_str`]'s unchecked
//! conversion rests on this module alone, not on the incremental validation elsewhere in the
//! crate or on how the buffer was filled. The tests compare the check with core's on every kind
//! of input.
#![allow(unsafe_code)]

use alloc::string::String;
use alloc::vec::Vec;
use bytes::Bytes;
use core::fmt;
use core::ops::Deref;

/// Below this length core's validator is as fast (simdutf8 itself falls back to it for inputs
/// shorter than its 64-byte blocks).
const SIMD_MIN: usize = 64;

/// Whether `bytes` are UTF-8, as `core::str::from_utf8(bytes).is_ok()`.
pub(crate) fn is_utf8(bytes: &[u8]) -> bool {
    if bytes.len() < SIMD_MIN {
        return bytes.is_ascii() || core::str::from_utf8(bytes).is_ok();
    }
    simdutf8::basic::from_utf8(bytes).is_ok()
}

/// The text of a message: UTF-8 in shared, cheaply cloned bytes ([`Bytes`]). Reads as a `str`
/// (`Deref`, [`as_str`](Self::as_str)), compares with `str` and `String`, and converts from
/// them; [`into_bytes`](Self::into_bytes) gives the bytes back without a copy.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Utf8Bytes(Bytes);

impl Utf8Bytes {
    /// Text from a `'static` string, without copying it.
    pub const fn from_static(text: &'static str) -> Utf8Bytes {
        Utf8Bytes(Bytes::from_static(text.as_bytes()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor of `Utf8Bytes` starts from a `str` or checks the bytes with
        // `is_utf8` (see the module's doc), and `Bytes` never changes its contents.
        unsafe { core::str::from_utf8_unchecked(&self.0) }
    }

    /// The UTF-8 bytes, without a copy.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// The UTF-8 bytes.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// `bytes` as text if they are UTF-8 (the check runs in place; nothing is copied).
    pub(crate) fn from_checked_vec(bytes: Vec<u8>) -> Option<Utf8Bytes> {
        is_utf8(&bytes).then(|| Utf8Bytes(Bytes::from(bytes)))
    }
}

impl TryFrom<Bytes> for Utf8Bytes {
    type Error = Bytes;

    /// The bytes as text if they are UTF-8; otherwise they come back as the error.
    fn try_from(bytes: Bytes) -> Result<Utf8Bytes, Bytes> {
        if is_utf8(&bytes) {
            Ok(Utf8Bytes(bytes))
        } else {
            Err(bytes)
        }
    }
}

impl TryFrom<Vec<u8>> for Utf8Bytes {
    type Error = Vec<u8>;

    /// The bytes as text if they are UTF-8 (no copy); otherwise they come back as the error.
    fn try_from(bytes: Vec<u8>) -> Result<Utf8Bytes, Vec<u8>> {
        if is_utf8(&bytes) {
            Ok(Utf8Bytes(Bytes::from(bytes)))
        } else {
            Err(bytes)
        }
    }
}

impl From<String> for Utf8Bytes {
    fn from(text: String) -> Utf8Bytes {
        Utf8Bytes(Bytes::from(text.into_bytes()))
    }
}

impl From<&str> for Utf8Bytes {
    fn from(text: &str) -> Utf8Bytes {
        Utf8Bytes(Bytes::copy_from_slice(text.as_bytes()))
    }
}

impl From<&String> for Utf8Bytes {
    fn from(text: &String) -> Utf8Bytes {
        Utf8Bytes::from(text.as_str())
    }
}

impl From<alloc::boxed::Box<str>> for Utf8Bytes {
    fn from(text: alloc::boxed::Box<str>) -> Utf8Bytes {
        Utf8Bytes::from(String::from(text))
    }
}

impl From<Utf8Bytes> for Bytes {
    fn from(text: Utf8Bytes) -> Bytes {
        text.0
    }
}

impl From<Utf8Bytes> for String {
    /// A copy of the text (the bytes may be shared, so they cannot become a `String` as they are).
    fn from(text: Utf8Bytes) -> String {
        String::from(text.as_str())
    }
}

impl Deref for Utf8Bytes {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Utf8Bytes {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for Utf8Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl core::borrow::Borrow<str> for Utf8Bytes {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl PartialEq<str> for Utf8Bytes {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Utf8Bytes {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Utf8Bytes {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<Utf8Bytes> for str {
    fn eq(&self, other: &Utf8Bytes) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Utf8Bytes> for &str {
    fn eq(&self, other: &Utf8Bytes) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<Utf8Bytes> for String {
    fn eq(&self, other: &Utf8Bytes) -> bool {
        self.as_str() == other.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    fn agrees(bytes: &[u8]) {
        let checked = Utf8Bytes::from_checked_vec(bytes.to_vec()).map(String::from);
        assert_eq!(
            checked,
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
            Utf8Bytes::try_from(Bytes::from(text.clone().into_bytes())).map(String::from),
            Ok(text.to_string())
        );
        assert_eq!(
            Utf8Bytes::try_from(Bytes::from_static(&[b'a', 0xff])),
            Err(Bytes::from_static(&[b'a', 0xff]))
        );
    }
    #[test]
    fn utf8_bytes_read_and_compare_as_text_and_give_their_bytes_back_uncopied() {
        let text = Utf8Bytes::from(String::from("héllo"));
        assert_eq!(text, "héllo");
        assert_eq!(text, *"héllo");
        assert_eq!(text, String::from("héllo"));
        assert_eq!("héllo", text);
        assert_eq!(String::from("héllo"), text);
        assert_eq!(text.as_str(), "héllo");
        assert_eq!(text.len(), 6, "bytes, through Deref<Target = str>");
        assert_eq!(alloc::format!("{text} {text:?}"), "héllo \"héllo\"");
        assert_eq!(Utf8Bytes::from_static("héllo"), text);
        assert_eq!(Utf8Bytes::from("héllo"), text);
        assert_eq!(String::from(text.clone()), "héllo");
        let at = text.as_bytes().as_ptr();
        assert_eq!(text.clone().into_bytes().as_ptr(), at, "shared, not copied");
        assert_eq!(Bytes::from(text).as_ptr(), at);
        assert_eq!(
            Utf8Bytes::try_from(vec![0xc3, 0xa9]).map(String::from),
            Ok(String::from("é"))
        );
        assert_eq!(Utf8Bytes::try_from(vec![0xc3]), Err(vec![0xc3]));
        assert_eq!(Utf8Bytes::default(), "");
    }
}
