//! The application-level message, as tokio-tungstenite users know it.

use bytes::Bytes;
use ws_proto::{CloseCode, CloseFrame, Event, Fragment, Utf8Bytes};

/// A WebSocket message.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Message {
    /// A text message, UTF-8 checked: a `str` in shared bytes ([`Utf8Bytes`], as
    /// tokio-tungstenite's since 0.26), so a large one received over tokio is a slice of the read
    /// buffer like a binary one, and echoing it back copies nothing.
    Text(Utf8Bytes),
    /// A binary message. A large one received over tokio may be a slice of the read buffer it
    /// arrived in (see `Config::read_buffer_size`); `Bytes::copy_from_slice` keeps it compactly.
    Binary(Bytes),
    /// A Ping (received ones are answered automatically unless `auto_pong` is off).
    Ping(Bytes),
    /// A Pong.
    Pong(Bytes),
    /// A Close frame: received, the peer started or answered the close handshake; sent, ours
    /// starts it (`None` sends a Close without a code).
    Close(Option<CloseFrame>),
    /// One data frame, in fragment-streaming mode (`Config::protocol.stream_fragments`); to send,
    /// a fragment of a message (`first` is ignored: the connection tracks it).
    Fragment(Fragment),
    /// To send only: a message encoded once for many connections (broadcast; see
    /// [`PreparedMessage`](ws_proto::PreparedMessage)). Never received.
    Prepared(ws_proto::PreparedMessage),
}

impl Message {
    /// A text message.
    pub fn text(text: impl Into<Utf8Bytes>) -> Message {
        Message::Text(text.into())
    }

    /// A binary message.
    pub fn binary(data: impl Into<Bytes>) -> Message {
        Message::Binary(data.into())
    }

    /// The text, if this is a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Message::Text(text) => Some(text),
            _ => None,
        }
    }

    /// A Close with `code` and `reason`.
    pub fn close(code: CloseCode, reason: impl Into<String>) -> Message {
        Message::Close(Some(CloseFrame::new(code, reason)))
    }

    /// The message for a core event; `None` for `Closed`, which ends the stream instead.
    #[inline]
    pub(crate) fn from_event(event: Event) -> Option<Message> {
        Some(match event {
            Event::Text(text) => Message::Text(text),
            Event::Binary(data) => Message::Binary(data),
            Event::Fragment(fragment) => Message::Fragment(fragment),
            Event::Ping(data) => Message::Ping(data),
            Event::Pong(data) => Message::Pong(data),
            Event::CloseReceived(frame) => Message::Close(Some(frame)),
            _ => return None,
        })
    }
}

impl From<String> for Message {
    fn from(text: String) -> Message {
        Message::Text(text.into())
    }
}

impl From<Utf8Bytes> for Message {
    fn from(text: Utf8Bytes) -> Message {
        Message::Text(text)
    }
}

impl From<&str> for Message {
    fn from(text: &str) -> Message {
        Message::Text(text.into())
    }
}

impl From<Vec<u8>> for Message {
    fn from(data: Vec<u8>) -> Message {
        Message::Binary(data.into())
    }
}

impl From<Bytes> for Message {
    fn from(data: Bytes) -> Message {
        Message::Binary(data)
    }
}
