//! Typed errors: what a peer did wrong, and what the local application asked for that it may not.

use crate::close::CloseCode;
use crate::event::MessageKind;
use crate::state::State;
use core::fmt;

/// How the peer broke RFC 6455. Never returned from a handler: the connection closes with
/// [`ProtocolError::close_code`] and reports the error in [`Closed::outcome`](crate::Closed::outcome).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A reserved bit was set and no extension gave it a meaning.
    ReservedBitsSet(u8),
    /// A reserved opcode (3-7, 11-15).
    UnknownOpcode(u8),
    /// A 64-bit payload length with its most significant bit set.
    LengthTopBitSet,
    /// A Close, Ping or Pong frame without FIN.
    FragmentedControlFrame,
    /// A Close, Ping or Pong frame with more than 125 bytes of payload.
    ControlFrameTooLong(u64),
    /// A continuation frame with no fragmented message to continue.
    UnexpectedContinuation,
    /// A new Text or Binary frame while a fragmented message was unfinished.
    ExpectedContinuation,
    /// A server received a frame without a mask.
    UnmaskedFrame,
    /// A client received a masked frame.
    MaskedFrame,
    /// A frame whose header announced more than `max_frame_size` bytes.
    FrameTooLarge {
        /// The announced payload length.
        len: u64,
        /// The configured limit.
        max: usize,
    },
    /// A message that would grow past `max_message_size` bytes.
    MessageTooLarge {
        /// The message's size including the frame that crossed the limit.
        len: u64,
        /// The configured limit.
        max: usize,
    },
    /// A text message that is not valid UTF-8 (detected at the first bad byte).
    InvalidUtf8,
    /// A Close frame with a one-byte payload.
    TruncatedClosePayload,
    /// A Close frame with a code that may not be sent (see [`CloseCode::is_valid_on_wire`]).
    InvalidCloseCode(u16),
    /// A Close frame whose reason is not UTF-8.
    InvalidCloseReason,
    /// A compressed message (permessage-deflate) that is not a valid deflate stream.
    InvalidCompressedData,
}

impl ProtocolError {
    /// The code our Close frame carries for this error: 1009 for size limits, 1007 for bad
    /// UTF-8 or compressed data, 1002 for everything else.
    pub fn close_code(&self) -> CloseCode {
        match self {
            ProtocolError::FrameTooLarge { .. } | ProtocolError::MessageTooLarge { .. } => {
                CloseCode::MESSAGE_TOO_BIG
            }
            ProtocolError::InvalidUtf8
            | ProtocolError::InvalidCloseReason
            | ProtocolError::InvalidCompressedData => CloseCode::INVALID_PAYLOAD,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }

    /// A short reason for the Close frame (well under the 123-byte limit).
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            ProtocolError::ReservedBitsSet(_) => "reserved bits set",
            ProtocolError::UnknownOpcode(_) => "unknown opcode",
            ProtocolError::LengthTopBitSet => "invalid payload length",
            ProtocolError::FragmentedControlFrame => "fragmented control frame",
            ProtocolError::ControlFrameTooLong(_) => "control frame too long",
            ProtocolError::UnexpectedContinuation => "unexpected continuation frame",
            ProtocolError::ExpectedContinuation => "expected continuation frame",
            ProtocolError::UnmaskedFrame => "unmasked frame from client",
            ProtocolError::MaskedFrame => "masked frame from server",
            ProtocolError::FrameTooLarge { .. } => "frame too large",
            ProtocolError::MessageTooLarge { .. } => "message too large",
            ProtocolError::InvalidUtf8 => "invalid UTF-8 in text message",
            ProtocolError::TruncatedClosePayload => "close frame with a 1-byte payload",
            ProtocolError::InvalidCloseCode(_) => "invalid close code",
            ProtocolError::InvalidCloseReason => "invalid UTF-8 in close reason",
            ProtocolError::InvalidCompressedData => "invalid compressed data",
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::ReservedBitsSet(bits) => write!(f, "reserved bits set: {bits:#05b}"),
            ProtocolError::UnknownOpcode(op) => write!(f, "unknown opcode {op}"),
            ProtocolError::ControlFrameTooLong(len) => {
                write!(f, "control frame of {len} bytes (max 125)")
            }
            ProtocolError::FrameTooLarge { len, max } => {
                write!(f, "frame of {len} bytes exceeds the limit of {max}")
            }
            ProtocolError::MessageTooLarge { len, max } => {
                write!(f, "message of {len} bytes exceeds the limit of {max}")
            }
            ProtocolError::InvalidCloseCode(code) => write!(f, "invalid close code {code}"),
            other => f.write_str(other.reason()),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ProtocolError {}

/// A command the connection refused; nothing was queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CommandError {
    /// Data and pings may only be sent while the connection is open (not after a Close frame was
    /// sent or received).
    NotOpen(State),
    /// A whole message cannot be sent while a fragmented one is unfinished.
    FragmentedMessageInProgress,
    /// A fragment of a different kind than the fragmented message under way.
    FragmentKindMismatch {
        /// The kind of the message under way.
        in_progress: MessageKind,
    },
    /// Ping and Pong payloads are at most 125 bytes.
    ControlPayloadTooLong(usize),
    /// This code may not be sent in a Close frame (1005, 1006, 1015, 0-999, 1016-2999, 5000+).
    InvalidCloseCode(CloseCode),
    /// Close reasons are at most 123 bytes.
    CloseReasonTooLong(usize),
    /// Text fragments must concatenate to valid UTF-8.
    InvalidUtf8,
    /// The compressor failed; nothing was queued and the compression state was reset.
    CompressionFailed,
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::NotOpen(state) => write!(f, "connection is not open ({state:?})"),
            CommandError::FragmentedMessageInProgress => {
                f.write_str("a fragmented message is in progress")
            }
            CommandError::FragmentKindMismatch { in_progress } => {
                write!(f, "a fragmented {in_progress:?} message is in progress")
            }
            CommandError::ControlPayloadTooLong(len) => {
                write!(f, "control payload of {len} bytes (max 125)")
            }
            CommandError::InvalidCloseCode(code) => write!(f, "close code {code} may not be sent"),
            CommandError::CloseReasonTooLong(len) => {
                write!(f, "close reason of {len} bytes (max 123)")
            }
            CommandError::InvalidUtf8 => f.write_str("text fragment is not valid UTF-8"),
            CommandError::CompressionFailed => f.write_str("compression failed"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for CommandError {}
