//! Close codes and Close frame payloads (RFC 6455 sections 5.5.1 and 7.4).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// A close status code.
///
/// Any `u16` can be represented, so a received code can be reported even when it is one we reject;
/// [`CloseCode::is_valid_on_wire`] tells which codes may appear in a Close frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: the purpose of the connection has been fulfilled.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the endpoint is going away (server shutdown, page navigation).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: a data type the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1005: reported when a Close frame carried no code. Never sent on the wire.
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1006: reported when the connection ended without a Close frame. Never sent on the wire.
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: message data inconsistent with its type (text that is not UTF-8).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: the message violates the endpoint's policy.
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// 1009: a frame or message larger than the endpoint accepts.
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: the client needed an extension the server did not negotiate.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: the server hit an unexpected condition (also used for a keepalive timeout).
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);
    /// 1012: the service is restarting.
    pub const SERVICE_RESTART: CloseCode = CloseCode(1012);
    /// 1013: try again later.
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);
    /// 1014: a gateway got an invalid response upstream.
    pub const BAD_GATEWAY: CloseCode = CloseCode(1014);
    /// 1015: reported when the TLS handshake failed. Never sent on the wire.
    pub const TLS_HANDSHAKE: CloseCode = CloseCode(1015);

    /// Whether this code may appear in a Close frame: 1000-1003, 1007-1014 (the IANA registry's
    /// protocol codes) and 3000-4999 (libraries and applications). 0-999, 1004-1006, 1015,
    /// 1016-2999 and 5000 and above are not.
    pub fn is_valid_on_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        CloseCode(code)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> u16 {
        code.0
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The longest reason that fits a control frame: 125 bytes of payload minus the 2-byte code.
pub const MAX_REASON_LEN: usize = 123;

/// What a Close frame said: a code and a UTF-8 reason.
///
/// A Close frame with an empty payload is represented with [`CloseCode::NO_STATUS`] and an empty
/// reason, the convention of browsers and of Python `websockets`; encoding it gives an empty payload.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CloseFrame {
    /// The status code ([`CloseCode::NO_STATUS`] if the frame had none).
    pub code: CloseCode,
    /// Why, for humans. At most [`MAX_REASON_LEN`] bytes.
    pub reason: String,
}

/// Why a received Close payload is malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ClosePayloadError {
    /// One byte: too short for a code.
    Truncated,
    /// A code that may not appear on the wire.
    InvalidCode(u16),
    /// The reason is not UTF-8.
    InvalidReason,
}

impl CloseFrame {
    /// A frame with `code` and `reason`.
    pub fn new(code: CloseCode, reason: impl Into<String>) -> Self {
        CloseFrame {
            code,
            reason: reason.into(),
        }
    }

    /// The frame for an empty Close payload.
    pub fn no_status() -> Self {
        CloseFrame::new(CloseCode::NO_STATUS, String::new())
    }

    /// Parses a received (already unmasked) Close payload.
    pub(crate) fn parse(payload: &[u8]) -> Result<CloseFrame, ClosePayloadError> {
        match payload {
            [] => Ok(CloseFrame::no_status()),
            [_] => Err(ClosePayloadError::Truncated),
            [hi, lo, reason @ ..] => {
                let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
                if !code.is_valid_on_wire() {
                    return Err(ClosePayloadError::InvalidCode(code.0));
                }
                let reason =
                    core::str::from_utf8(reason).map_err(|_| ClosePayloadError::InvalidReason)?;
                Ok(CloseFrame::new(code, reason))
            }
        }
    }

    /// The payload to put on the wire: empty for [`CloseCode::NO_STATUS`], else code then reason.
    pub(crate) fn payload(&self) -> Vec<u8> {
        if self.code == CloseCode::NO_STATUS {
            return Vec::new();
        }
        let mut payload = Vec::with_capacity(2 + self.reason.len());
        payload.extend_from_slice(&self.code.0.to_be_bytes());
        payload.extend_from_slice(self.reason.as_bytes());
        payload
    }
}

impl fmt::Display for CloseFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.reason.is_empty() {
            write!(f, "{}", self.code)
        } else {
            write!(f, "{} ({})", self.code, self.reason)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_validity_follows_the_registry() {
        for ok in [
            1000, 1001, 1002, 1003, 1007, 1011, 1012, 1014, 3000, 3999, 4000, 4999,
        ] {
            assert!(CloseCode(ok).is_valid_on_wire(), "{ok}");
        }
        for bad in [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            assert!(!CloseCode(bad).is_valid_on_wire(), "{bad}");
        }
    }

    #[test]
    fn parses_and_encodes_payloads() {
        assert_eq!(CloseFrame::parse(&[]), Ok(CloseFrame::no_status()));
        assert_eq!(CloseFrame::no_status().payload(), Vec::<u8>::new());
        assert_eq!(
            CloseFrame::parse(&[0x03, 0xe8, b'o', b'k']),
            Ok(CloseFrame::new(CloseCode::NORMAL, "ok"))
        );
        assert_eq!(
            CloseFrame::new(CloseCode::NORMAL, "ok").payload(),
            [0x03, 0xe8, b'o', b'k']
        );
        assert_eq!(
            CloseFrame::parse(&[0x03]),
            Err(ClosePayloadError::Truncated)
        );
        assert_eq!(
            CloseFrame::parse(&[0x03, 0xed]),
            Err(ClosePayloadError::InvalidCode(1005))
        );
        assert_eq!(
            CloseFrame::parse(&[0x03, 0xe8, 0xff]),
            Err(ClosePayloadError::InvalidReason)
        );
    }
}
