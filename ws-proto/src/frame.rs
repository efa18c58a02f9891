//! The frame codec: opcodes and frame headers (RFC 6455 section 5.2), decoded and encoded.
//!
//! This module knows the wire layout only. Which headers are acceptable (reserved bits, masking by
//! role, control-frame rules, size limits) is decided by the reader, which knows the role and the
//! configuration.

use crate::mask::apply_mask;
use alloc::vec::Vec;

/// The longest frame header: 2 bytes, an 8-byte extended length, a 4-byte mask.
pub const MAX_HEADER_LEN: usize = 14;

/// The largest payload of a control frame (Close, Ping, Pong).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// A frame's opcode. Reserved opcodes (3-7, 11-15) cannot be represented: they are rejected at parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// 0: a later fragment of a fragmented message.
    Continuation,
    /// 1: the first frame of a text message.
    Text,
    /// 2: the first frame of a binary message.
    Binary,
    /// 8: the close handshake.
    Close,
    /// 9: a ping, answered by a pong with the same payload.
    Ping,
    /// 10: a pong.
    Pong,
}

impl OpCode {
    /// The opcode for a 4-bit value, or `None` if it is reserved.
    pub fn from_u8(value: u8) -> Option<OpCode> {
        Some(match value {
            0 => OpCode::Continuation,
            1 => OpCode::Text,
            2 => OpCode::Binary,
            8 => OpCode::Close,
            9 => OpCode::Ping,
            10 => OpCode::Pong,
            _ => return None,
        })
    }

    /// The 4-bit wire value.
    pub fn as_u8(self) -> u8 {
        match self {
            OpCode::Continuation => 0,
            OpCode::Text => 1,
            OpCode::Binary => 2,
            OpCode::Close => 8,
            OpCode::Ping => 9,
            OpCode::Pong => 10,
        }
    }

    /// Close, Ping and Pong are control frames: at most 125 bytes and never fragmented.
    pub fn is_control(self) -> bool {
        matches!(self, OpCode::Close | OpCode::Ping | OpCode::Pong)
    }
}

/// A decoded frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FrameHeader {
    /// Whether this is the last frame of its message.
    pub fin: bool,
    /// The three reserved bits, RSV1 as `0b100`, RSV2 as `0b010`, RSV3 as `0b001`.
    pub rsv: u8,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, present on frames sent by a client.
    pub mask: Option<[u8; 4]>,
    /// The payload length.
    pub payload_len: u64,
}

/// A header that cannot be decoded at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// A reserved opcode (3-7 or 11-15).
    UnknownOpcode(u8),
    /// A 64-bit length with its most significant bit set (RFC 6455 section 5.2 forbids it).
    LengthTopBitSet,
}

impl FrameHeader {
    /// How long the header is, given its second byte (mask bit and 7-bit length).
    pub fn len_from_second_byte(second: u8) -> usize {
        let length_bytes = match second & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let mask_bytes = if second & 0x80 != 0 { 4 } else { 0 };
        2 + length_bytes + mask_bytes
    }

    /// Decodes a header from the start of `buf`.
    ///
    /// `Ok(None)` means `buf` is a valid prefix but too short; `Ok(Some((header, n)))` means the
    /// header took the first `n` bytes. Errors are reported as soon as the offending byte is seen.
    pub fn parse(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, HeaderError> {
        // What a server reads most: a masked frame of up to 125 bytes, its header whole.
        if let [first, second @ 0x80..=0xfd, a, b, c, d, ..] = *buf {
            if let Some(opcode) = OpCode::from_u8(first & 0x0f) {
                let header = FrameHeader {
                    fin: first & 0x80 != 0,
                    rsv: (first >> 4) & 0x07,
                    opcode,
                    mask: Some([a, b, c, d]),
                    payload_len: u64::from(second & 0x7f),
                };
                return Ok(Some((header, 6)));
            }
        }
        Self::parse_any(buf)
    }

    /// [`parse`](Self::parse) for every header form.
    fn parse_any(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, HeaderError> {
        let Some(&first) = buf.first() else {
            return Ok(None);
        };
        let opcode =
            OpCode::from_u8(first & 0x0f).ok_or(HeaderError::UnknownOpcode(first & 0x0f))?;
        let Some(&second) = buf.get(1) else {
            return Ok(None);
        };
        if second & 0x7f == 127 && buf.get(2).is_some_and(|b| b & 0x80 != 0) {
            return Err(HeaderError::LengthTopBitSet);
        }
        let len = Self::len_from_second_byte(second);
        let Some(header) = buf.get(..len) else {
            return Ok(None);
        };
        let (payload_len, rest) = match second & 0x7f {
            126 => (
                u64::from(u16::from_be_bytes([header[2], header[3]])),
                &header[4..],
            ),
            127 => {
                let mut be = [0u8; 8];
                be.copy_from_slice(&header[2..10]);
                (u64::from_be_bytes(be), &header[10..])
            }
            short => (u64::from(short), &header[2..]),
        };
        let mask = match rest {
            [a, b, c, d] => Some([*a, *b, *c, *d]),
            _ => None,
        };
        Ok(Some((
            FrameHeader {
                fin: first & 0x80 != 0,
                rsv: (first >> 4) & 0x07,
                opcode,
                mask,
                payload_len,
            },
            len,
        )))
    }

    /// The encoded length of this header, using the shortest length form.
    pub fn encoded_len(&self) -> usize {
        let length_bytes = match self.payload_len {
            0..=125 => 0,
            126..=0xffff => 2,
            _ => 8,
        };
        2 + length_bytes + if self.mask.is_some() { 4 } else { 0 }
    }

    /// Appends the header to `out`, using the shortest length form.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let (bytes, len) = self.to_bytes();
        // As in `encode_frame`: a fixed-size copy, cut back.
        let start = out.len();
        out.extend_from_slice(&bytes);
        out.truncate(start + len);
    }

    /// The header in the shortest length form: the first `len` bytes of the array. Built on the
    /// stack so that appending it is one copy with one capacity check, not one per field (this
    /// runs for every frame sent).
    #[inline]
    pub fn to_bytes(&self) -> ([u8; MAX_HEADER_LEN], usize) {
        let mut bytes = [0u8; MAX_HEADER_LEN];
        bytes[0] = first_byte(self.fin, self.rsv, self.opcode);
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let mut len = match self.payload_len {
            short @ 0..=125 => {
                bytes[1] = mask_bit | short as u8;
                2
            }
            medium @ 126..=0xffff => {
                bytes[1] = mask_bit | 126;
                bytes[2..4].copy_from_slice(&(medium as u16).to_be_bytes());
                4
            }
            long => {
                bytes[1] = mask_bit | 127;
                bytes[2..10].copy_from_slice(&long.to_be_bytes());
                10
            }
        };
        if let Some(mask) = self.mask {
            bytes[len..len + 4].copy_from_slice(&mask);
            len += 4;
        }
        (bytes, len)
    }
}

/// A header's first byte: FIN, the three RSV bits, the opcode.
fn first_byte(fin: bool, rsv: u8, opcode: OpCode) -> u8 {
    (u8::from(fin) << 7) | ((rsv & 0x07) << 4) | opcode.as_u8()
}

/// Appends a whole frame (header and payload, masked if `mask` is given) to `out`.
pub fn encode_frame(
    out: &mut Vec<u8>,
    fin: bool,
    rsv: u8,
    opcode: OpCode,
    mask: Option<[u8; 4]>,
    payload: &[u8],
) {
    // A server's frames up to 64 KiB (what most messages are), with the header written
    // directly: two bytes, or four with a 16-bit length.
    if mask.is_none() && payload.len() <= 0xffff {
        let first = first_byte(fin, rsv, opcode);
        out.reserve(4 + payload.len());
        if payload.len() <= 125 {
            out.extend_from_slice(&[first, payload.len() as u8]);
        } else {
            let [high, low] = (payload.len() as u16).to_be_bytes();
            out.extend_from_slice(&[first, 126, high, low]);
        }
        out.extend_from_slice(payload);
        return;
    }
    let header = FrameHeader {
        fin,
        rsv,
        opcode,
        mask,
        payload_len: payload.len() as u64,
    };
    let (bytes, len) = header.to_bytes();
    // The whole array, then cut back to the header's length: a copy of a fixed size is a few
    // register stores, where one of `len` bytes is a call to `memcpy`.
    out.reserve(MAX_HEADER_LEN + payload.len());
    let header_start = out.len();
    out.extend_from_slice(&bytes);
    out.truncate(header_start + len);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(mask) = mask {
        apply_mask(&mut out[start..], mask, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn header(payload_len: u64, mask: Option<[u8; 4]>) -> FrameHeader {
        FrameHeader {
            fin: true,
            rsv: 0,
            opcode: OpCode::Binary,
            mask,
            payload_len,
        }
    }

    #[test]
    fn the_short_masked_shortcut_parses_as_the_general_path_does() {
        // Every first and second byte, at every buffer length around the 6-byte header: a
        // wrong opcode check, mask or length in the shortcut shows as a difference.
        let rest = [
            0x11, 0x22, 0x33, 0x44, 0x85, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc,
        ];
        for first in 0..=255u8 {
            for second in 0..=255u8 {
                let mut buf = vec![first, second];
                buf.extend_from_slice(&rest);
                for len in 0..=buf.len() {
                    let buf = &buf[..len];
                    assert_eq!(
                        FrameHeader::parse(buf),
                        FrameHeader::parse_any(buf),
                        "{buf:02x?}"
                    );
                }
            }
        }
    }

    #[test]
    fn encodes_all_three_length_forms_minimally() {
        for (len, expected_len) in [
            (0u64, 2usize),
            (125, 2),
            (126, 4),
            (0xffff, 4),
            (0x1_0000, 10),
            (u64::MAX >> 1, 10),
        ] {
            for mask in [None, Some([1, 2, 3, 4])] {
                let h = header(len, mask);
                let mut out = Vec::new();
                h.encode(&mut out);
                let extra = if mask.is_some() { 4 } else { 0 };
                assert_eq!(out.len(), expected_len + extra);
                assert_eq!(h.encoded_len(), out.len());
                assert_eq!(FrameHeader::parse(&out), Ok(Some((h, out.len()))));
                for short in 0..out.len() {
                    assert_eq!(FrameHeader::parse(&out[..short]), Ok(None), "{short}");
                }
            }
        }
    }

    #[test]
    fn rfc_6455_examples() {
        // Section 5.7: single-frame unmasked and masked "Hello", 256-byte and 64 KiB binary.
        assert_eq!(
            FrameHeader::parse(&[0x81, 0x05]),
            Ok(Some((
                FrameHeader {
                    fin: true,
                    rsv: 0,
                    opcode: OpCode::Text,
                    mask: None,
                    payload_len: 5
                },
                2
            )))
        );
        let mut out = Vec::new();
        encode_frame(
            &mut out,
            true,
            0,
            OpCode::Text,
            Some([0x37, 0xfa, 0x21, 0x3d]),
            b"Hello",
        );
        assert_eq!(
            out,
            [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
        let mut out = Vec::new();
        encode_frame(&mut out, true, 0, OpCode::Binary, None, &vec![0; 256]);
        assert_eq!(out[..4], [0x82, 0x7e, 0x01, 0x00]);
        let mut out = Vec::new();
        encode_frame(&mut out, true, 0, OpCode::Binary, None, &vec![0; 65536]);
        assert_eq!(out[..10], [0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]);
    }

    /// The shortcut for a server's frames up to 64 KiB writes what the general header encoding
    /// writes, after whatever `out` already holds, and it parses back.
    #[test]
    fn small_unmasked_frames_match_the_general_encoding() {
        let kinds = [
            (true, 0, OpCode::Text),
            (false, 0b100, OpCode::Binary),
            (true, 0, OpCode::Continuation),
            (true, 0, OpCode::Pong),
            (true, 0b111, OpCode::Close),
        ];
        for len in [0usize, 1, 5, 124, 125, 126, 300, 0xffff, 0x1_0000] {
            for (fin, rsv, opcode) in kinds {
                let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
                let mut out = vec![9];
                encode_frame(&mut out, fin, rsv, opcode, None, &payload);
                let header = FrameHeader {
                    fin,
                    rsv,
                    opcode,
                    mask: None,
                    payload_len: len as u64,
                };
                let mut expected = vec![9];
                header.encode(&mut expected);
                expected.extend_from_slice(&payload);
                assert_eq!(out, expected, "len {len} {opcode:?}");
                let parsed = FrameHeader::parse(&out[1..]).unwrap().unwrap();
                assert_eq!(parsed, (header, header.encoded_len()));
            }
        }
    }

    #[test]
    fn rejects_reserved_opcodes_from_the_first_byte() {
        for op in [3u8, 4, 5, 6, 7, 11, 12, 13, 14, 15] {
            assert_eq!(
                FrameHeader::parse(&[0x80 | op]),
                Err(HeaderError::UnknownOpcode(op))
            );
        }
    }

    #[test]
    fn rejects_a_64_bit_length_with_the_top_bit_set() {
        assert_eq!(
            FrameHeader::parse(&[0x82, 0x7f, 0x80]),
            Err(HeaderError::LengthTopBitSet)
        );
    }

    #[test]
    fn keeps_reserved_bits_for_the_reader_to_judge() {
        let (h, _) = FrameHeader::parse(&[0xf2, 0x00]).unwrap().unwrap();
        assert_eq!(h.rsv, 0b111);
    }
}
