//! Broadcast: a message encoded once and sent to many connections.

use crate::event::MessageKind;
use crate::frame::{encode_frame, OpCode};
use alloc::vec::Vec;
use bytes::Bytes;

/// A data message encoded once as an unmasked, uncompressed server frame, so a server can send
/// the same bytes to many connections (a chat room, a price feed) without validating, encoding
/// or compressing it again for each. Cheap to clone: the frame is shared `Bytes`.
///
/// [`Connection::send_prepared`](crate::Connection::send_prepared) queues it; a client
/// connection (which must mask every frame with its own key) encodes the payload afresh, so
/// it works there too, just without the saving.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedMessage {
    kind: MessageKind,
    /// The whole frame: header, then payload.
    frame: Bytes,
    header_len: usize,
}

impl PreparedMessage {
    /// A text message.
    pub fn text(text: &str) -> PreparedMessage {
        Self::encode(MessageKind::Text, text.as_bytes())
    }

    /// A binary message.
    pub fn binary(data: &[u8]) -> PreparedMessage {
        Self::encode(MessageKind::Binary, data)
    }

    fn encode(kind: MessageKind, payload: &[u8]) -> PreparedMessage {
        let opcode = match kind {
            MessageKind::Text => OpCode::Text,
            MessageKind::Binary => OpCode::Binary,
        };
        let mut frame = Vec::new();
        encode_frame(&mut frame, true, 0, opcode, None, payload);
        PreparedMessage {
            kind,
            header_len: frame.len() - payload.len(),
            frame: Bytes::from(frame),
        }
    }

    /// Text or binary.
    pub fn kind(&self) -> MessageKind {
        self.kind
    }

    /// The payload.
    pub fn payload(&self) -> &[u8] {
        &self.frame[self.header_len..]
    }

    /// The encoded server frame, header included.
    pub fn frame(&self) -> &[u8] {
        &self.frame
    }

    /// The encoded frame, shared (queued by servers without a copy).
    pub(crate) fn frame_bytes(&self) -> &Bytes {
        &self.frame
    }
}
