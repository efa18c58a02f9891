//! The receive path: bytes in, validated frames, assembled messages and control frames out.
//!
//! The reader keeps no unparsed input. A partial header waits in a 14-byte buffer; payload bytes
//! are unmasked and appended to the message (or control frame) they belong to as they arrive, and
//! text is UTF-8-checked on the spot. So memory grows only with payload actually received, and
//! never past the limits, which are checked from each header before its payload is accepted.

use crate::close::{CloseFrame, ClosePayloadError};
use crate::codec::{InflateError, Inflater};
use crate::error::ProtocolError;
use crate::event::{Fragment, MessageKind};
use crate::frame::{FrameHeader, HeaderError, OpCode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
use crate::mask::{apply_mask, copy_masked, extend_masked};
use crate::state::Role;
use crate::text::Utf8Bytes;
use crate::utf8::Utf8Validator;
use crate::Config;
use alloc::boxed::Box;
use alloc::vec::Vec;
use bytes::{Buf, Bytes, BytesMut};

/// A complete unit of input for the connection to act on.
#[derive(Debug)]
pub(crate) enum Incoming {
    Text(Utf8Bytes),
    Binary(Bytes),
    Fragment(Fragment),
    Ping(Bytes),
    Pong(Bytes),
    Close(CloseFrame),
}

/// The frame whose payload is being received.
#[derive(Debug)]
struct FrameInProgress {
    header: FrameHeader,
    /// Payload bytes received so far.
    received: u64,
}

/// A data message whose frames are being received.
#[derive(Debug)]
struct MessageInProgress {
    kind: MessageKind,
    /// The payload so far: the whole message, or in streaming mode the current frame.
    buf: Vec<u8>,
    /// Payload bytes of the whole message announced so far (for `max_message_size`).
    size: u64,
    /// `Some` for text.
    utf8: Option<Utf8Validator>,
    /// Streaming mode: whether a fragment of this message was delivered already.
    delivered_any: bool,
    /// The message is compressed (RSV1 on its first frame): payload goes through the inflater.
    compressed: bool,
    /// Bytes inflated so far for the whole message (for `max_message_size`).
    inflated: u64,
    /// Zero-filled bytes at the end of `buf` handed to a driver to read into and not yet
    /// committed: `buf.len() - window` bytes are payload.
    window: usize,
}

impl MessageInProgress {
    /// Forgets an uncommitted direct-read window, so `buf` holds payload only.
    fn close_window(&mut self) {
        if self.window > 0 {
            self.buf.truncate(self.buf.len() - self.window);
            self.window = 0;
        }
    }
}

/// RSV1: "this message is compressed" under permessage-deflate (RFC 7692 section 6).
const RSV1: u8 = 0b100;

/// Compressed payload is unmasked through a stack block of this size before inflating.
const UNMASK_BLOCK: usize = 4096;

/// Capacity reserved for a data frame as soon as its header arrives: up to this much, a frame is
/// received into one allocation, with no reallocation (and copy) as it grows. Reserving is not
/// touching: the pages are written only as payload arrives. Larger frames grow geometrically.
const EAGER_RESERVE: usize = 1 << 20;

/// Payload still to come of a frame from which a driver may read it into the message buffer
/// directly ([`Reader::direct_window`]): below it, one copy from the driver's buffer is cheaper.
const DIRECT_READ_MIN: u64 = 16 * 1024;

/// In [`Reader::read_in_place`], a message is split off the driver's buffer when it is at
/// least this share of the buffer's capacity: a message the application keeps holds the whole
/// buffer, so this bounds what it holds to 4x its size (64 KiB messages and up with the
/// adapters' 256 KiB reads). Smaller ones are copied out, so a held message holds only itself.
pub(crate) const IN_PLACE_SHARE: usize = 4;

/// Below this size a copy costs less than sharing the buffer (reference counts), whatever the
/// buffer's capacity.
pub(crate) const IN_PLACE_FLOOR: usize = 4 * 1024;

/// Frames read directly into their message ([`Reader::direct_window`]) are at least this large.
/// A direct read stops at the frame's end (plus one header), so smaller frames would take a
/// syscall each, where an ordinary read into a driver's buffer takes every frame queued on the
/// socket at once: copying them out of it costs less than the extra syscalls, and draining the
/// socket in large reads keeps TCP's receive window open (direct reads of 64 KiB frames made
/// the kernel advertise a zero window 10-20 times as often). The adapters read 256 KiB at a time.
const DIRECT_FRAME_MIN: u64 = 256 * 1024;

/// Payloads at least this large get their buffers from the `recycled` list (large buffers a
/// driver or the application handed back), smaller ones from `small`.
const LARGE_PAYLOAD: u64 = 16 * 1024;

/// The smallest direct-read window. Windows past a frame's first 1 MiB are zero-filled (safe Rust
/// reads only into initialized memory), so they grow with what arrived: memory touched stays
/// within about twice the payload received, plus this. The first 1 MiB comes zeroed from the
/// allocator, which touches no fresh page to do so.
const DIRECT_WINDOW_MIN: usize = 64 * 1024;

#[derive(Debug)]
pub(crate) struct Reader {
    role: Role,
    max_frame_size: usize,
    max_message_size: usize,
    stream_fragments: bool,
    /// Reserved bits a negotiated extension gave a meaning (RSV1 with permessage-deflate).
    allowed_rsv: u8,
    /// Inflates compressed messages, when permessage-deflate was negotiated.
    inflater: Option<Box<Inflater>>,
    header: [u8; MAX_HEADER_LEN],
    /// Header bytes collected in `header` (at most `MAX_HEADER_LEN`; a byte, as every
    /// connection carries the field).
    header_len: u8,
    frame: Option<FrameInProgress>,
    /// Boxed: most messages arrive whole in one read and never need it (`read_whole_message`),
    /// while every idle connection would carry its 80 bytes.
    message: Option<Box<MessageInProgress>>,
    control: Vec<u8>,
    /// Memory handed back by the driver (a large message it finished writing) to receive the
    /// next large frame into: already in use, so no page faults, and its stale bytes serve as
    /// an initialized direct-read window without zero-filling.
    /// At most `RECYCLED_BUFFERS`, most recent first; a list allocated on first use, as most
    /// connections never receive a large frame (48 B less on each of them than two inline slots).
    recycled: Vec<Vec<u8>>,
    /// Small payloads the application sent back (`Connection::send_*_owned`, which copied them
    /// into frames), to receive later messages of their size into: that saves allocating one
    /// buffer and freeing the other, a tenth of an echo's instructions.
    small: Vec<Vec<u8>>,
    /// The last data frame was large enough to be read directly ([`Reader::read_limit`]).
    large_frames: bool,
}

/// Recycled buffers kept: the next large frame often starts arriving before the last echo is
/// written, so one buffer alone is often still in use. More would save page faults only for
/// applications that read many large messages ahead of answering them (8 took an echo that
/// read 8 messages of 1 MiB ahead from 12-37 faults per message to 13, but hold 8 MiB per such
/// connection until it goes idle). They are freed when it does (`Connection::release_recycled_buffer`).
const RECYCLED_BUFFERS: usize = 2;

/// Small sent payloads kept to receive into: as many as an application typically has in flight.
const SMALL_BUFFERS: usize = 8;

/// Bytes a direct read took past the end of a frame: at most one frame header, the start of
/// whatever comes next ([`Reader::direct_commit`]).
#[derive(Debug, Default)]
pub(crate) struct NextHeader {
    bytes: [u8; MAX_HEADER_LEN],
    len: usize,
}

impl NextHeader {
    fn store(&mut self, bytes: &[u8]) {
        let len = bytes.len().min(MAX_HEADER_LEN);
        self.bytes[..len].copy_from_slice(&bytes[..len]);
        self.len = len;
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl From<HeaderError> for ProtocolError {
    fn from(e: HeaderError) -> Self {
        match e {
            HeaderError::UnknownOpcode(op) => ProtocolError::UnknownOpcode(op),
            HeaderError::LengthTopBitSet => ProtocolError::LengthTopBitSet,
        }
    }
}

impl Reader {
    pub(crate) fn new(role: Role, config: &Config) -> Self {
        Reader {
            role,
            max_frame_size: config.max_frame_size,
            max_message_size: config.max_message_size,
            stream_fragments: config.stream_fragments,
            allowed_rsv: 0,
            inflater: None,
            header: [0; MAX_HEADER_LEN],
            header_len: 0,
            frame: None,
            message: None,
            control: Vec::new(),
            recycled: Vec::new(),
            small: Vec::new(),
            large_frames: false,
        }
    }

    /// Accepts compressed messages (RSV1) from now on, inflating them with `inflater`.
    #[cfg(feature = "deflate")]
    pub(crate) fn enable_inflate(&mut self, inflater: Inflater) {
        self.allowed_rsv |= RSV1;
        self.inflater = Some(Box::new(inflater));
    }

    /// Bytes held for frames and messages not yet complete.
    pub(crate) fn buffered(&self) -> usize {
        usize::from(self.header_len)
            + self.control.len()
            + self.message.as_ref().map_or(0, |m| m.buf.len() - m.window)
    }

    /// Bytes allocated for incomplete frames and messages (capacity, not length).
    pub(crate) fn allocated(&self) -> usize {
        MAX_HEADER_LEN
            + self.control.capacity()
            + self.message.as_ref().map_or(0, |m| m.buf.capacity())
    }

    /// Consumes input up to the end of the next complete item, or all of it.
    ///
    /// Returns how many bytes were used and the item completed, if any. After an error the reader
    /// must not be used again (the connection stops reading).
    pub(crate) fn read(
        &mut self,
        input: &[u8],
    ) -> (usize, Result<Option<Incoming>, ProtocolError>) {
        if self.frame.is_none() && self.header_len == 0 && self.message.is_none() {
            if let Some(whole) = self.read_whole_message(input) {
                return whole;
            }
        }
        let mut pos = 0;
        loop {
            if self.frame.is_none() {
                let (used, header) = self.take_header(&input[pos..]);
                pos += used;
                match header {
                    Ok(Some(header)) => {
                        if let Err(e) = self.start_frame(header) {
                            return (pos, Err(e));
                        }
                    }
                    Ok(None) => return (pos, Ok(None)),
                    Err(e) => return (pos, Err(e)),
                }
            }
            let Some(frame) = self.frame.as_mut() else {
                return (pos, Ok(None));
            };
            let remaining = frame.header.payload_len - frame.received;
            let available = input.len() - pos;
            // `take` fits in usize: it is at most `available`.
            let take = remaining.min(available as u64) as usize;
            let chunk = &input[pos..pos + take];
            pos += take;
            if let Err(e) = self.take_payload(chunk) {
                return (pos, Err(e));
            }
            let Some(frame) = self.frame.as_ref() else {
                return (pos, Ok(None));
            };
            if frame.received < frame.header.payload_len {
                return (pos, Ok(None));
            }
            match self.finish_frame() {
                Ok(Some(item)) => return (pos, Ok(Some(item))),
                Ok(None) if pos == input.len() => return (pos, Ok(None)),
                Ok(None) => {}
                Err(e) => return (pos, Err(e)),
            }
        }
    }

    /// The common case in one step: an unfragmented, uncompressed text or binary message whose
    /// frame lies whole in `input`, checked and delivered with one allocation and one pass over
    /// the payload. `None` for anything else (including every error): the general path then
    /// takes it, byte for byte the same.
    fn read_whole_message(
        &mut self,
        input: &[u8],
    ) -> Option<(usize, Result<Option<Incoming>, ProtocolError>)> {
        let (header, header_len, end) = self.whole_message_frame(input)?;
        let payload = self.copy_out(input.get(header_len..end)?, header.mask);
        self.large_frames = header.payload_len >= DIRECT_FRAME_MIN;
        let item = match header.opcode {
            OpCode::Text => match Utf8Bytes::from_checked_vec(payload) {
                Some(text) => Incoming::Text(text),
                None => return Some((end, Err(ProtocolError::InvalidUtf8))),
            },
            _ => Incoming::Binary(Bytes::from(payload)),
        };
        Some((end, Ok(Some(item))))
    }

    /// The header at the front of `input` if it starts a whole message the fast paths take: an
    /// unfragmented, uncompressed text or binary frame, masked as the role requires, within
    /// the limits. With its length and where the frame ends (which may lie past `input`).
    #[inline]
    fn whole_message_frame(&self, input: &[u8]) -> Option<(FrameHeader, usize, usize)> {
        let (header, header_len) = FrameHeader::parse(input).ok().flatten()?;
        let masked_right = match self.role {
            Role::Server => header.mask.is_some(),
            Role::Client => header.mask.is_none(),
        };
        let kind_ok = matches!(header.opcode, OpCode::Text | OpCode::Binary);
        let limit = self.max_frame_size.min(self.max_message_size) as u64;
        if !header.fin
            || header.rsv != 0
            || !kind_ok
            || !masked_right
            || self.stream_fragments
            || header.payload_len > limit
        {
            return None;
        }
        // Within a configured limit, so within usize.
        let end = header_len.checked_add(header.payload_len as usize)?;
        Some((header, header_len, end))
    }

    /// The common large case without a copy: an unfragmented, uncompressed message of at least
    /// `min` bytes whose frame lies whole at the front of `input`, unmasked (and text checked)
    /// where it lies and split off as the message. `None` (input untouched) for anything else,
    /// which [`Self::read`] then takes.
    pub(crate) fn read_in_place(
        &mut self,
        input: &mut BytesMut,
        min: usize,
    ) -> Option<Result<Incoming, ProtocolError>> {
        if self.frame.is_some() || self.header_len != 0 || self.message.is_some() {
            return None;
        }
        let (header, header_len, end) = self.whole_message_frame(input)?;
        if header.payload_len < min as u64 || input.len() < end {
            return None;
        }
        let mut payload = input.split_to(end);
        payload.advance(header_len);
        if let Some(mask) = header.mask {
            apply_mask(&mut payload, mask, 0);
        }
        self.large_frames = header.payload_len >= DIRECT_FRAME_MIN;
        let payload = payload.freeze();
        Some(match header.opcode {
            OpCode::Text => Utf8Bytes::try_from(payload)
                .map(Incoming::Text)
                .map_err(|_| ProtocolError::InvalidUtf8),
            _ => Ok(Incoming::Binary(payload)),
        })
    }

    /// How many bytes of `input` (at least one, at most all) take the reader to the end of the
    /// frame under way, or of the frame `input` starts with: where [`Self::read_in_place`] may
    /// find the next message. A partial header counts as the header's longest form.
    pub(crate) fn frame_end_within(&self, input: &[u8]) -> usize {
        let end = if self.header_len != 0 {
            MAX_HEADER_LEN - usize::from(self.header_len)
        } else if let Some(frame) = self.frame.as_ref() {
            // A frame may be longer than memory; `input` is what is bounded.
            usize::try_from(frame.header.payload_len - frame.received).unwrap_or(usize::MAX)
        } else {
            match FrameHeader::parse(input) {
                Ok(Some((header, len))) => usize::try_from(header.payload_len)
                    .unwrap_or(usize::MAX)
                    .saturating_add(len),
                // An incomplete header, or a bad one (the reader fails on it).
                _ => input.len(),
            }
        };
        end.clamp(1, input.len().max(1))
    }

    /// `payload`, unmasked, in a buffer of its own: a kept one if one fits, else a new one. A
    /// kept buffer's stale bytes are overwritten as the payload is unmasked into them, one pass
    /// where copying and then unmasking in place would take two.
    fn copy_out(&mut self, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
        let kept = if payload.len() as u64 >= LARGE_PAYLOAD {
            take_recycled(&mut self.recycled, payload.len())
        } else {
            take_small(&mut self.small, payload.len() as u64)
        };
        let Some(mask) = mask else {
            return match kept {
                Some(mut buf) => {
                    buf.clear();
                    buf.extend_from_slice(payload);
                    buf
                }
                None => payload.to_vec(),
            };
        };
        match kept {
            Some(mut buf) if buf.len() >= payload.len() => {
                buf.truncate(payload.len());
                copy_masked(&mut buf, payload, mask, 0);
                buf
            }
            kept => {
                let mut buf = kept.unwrap_or_default();
                buf.clear();
                buf.reserve_exact(payload.len());
                extend_masked(&mut buf, payload, mask, 0);
                buf
            }
        }
    }

    /// Collects header bytes; decodes straight from `input` when the whole header is there.
    fn take_header(&mut self, input: &[u8]) -> (usize, Result<Option<FrameHeader>, ProtocolError>) {
        if self.header_len == 0 {
            match FrameHeader::parse(input) {
                Ok(Some((header, len))) => return (len, Ok(Some(header))),
                Err(e) => return (0, Err(e.into())),
                Ok(None) => {}
            }
        }
        let mut used = 0;
        loop {
            let have = usize::from(self.header_len);
            let needed = if have < 2 {
                2
            } else {
                FrameHeader::len_from_second_byte(self.header[1])
            };
            let take = (needed - have).min(input.len() - used);
            self.header[have..have + take].copy_from_slice(&input[used..used + take]);
            // At most MAX_HEADER_LEN (14): `needed` never exceeds it.
            self.header_len = (have + take) as u8;
            used += take;
            match FrameHeader::parse(&self.header[..have + take]) {
                Ok(Some((header, _))) => {
                    self.header_len = 0;
                    return (used, Ok(Some(header)));
                }
                Err(e) => return (used, Err(e.into())),
                Ok(None) if used == input.len() => return (used, Ok(None)),
                Ok(None) => {}
            }
        }
    }

    /// Validates a header against the role, the message in progress and the limits.
    fn start_frame(&mut self, header: FrameHeader) -> Result<(), ProtocolError> {
        if header.rsv & !self.allowed_rsv != 0 {
            return Err(ProtocolError::ReservedBitsSet(header.rsv));
        }
        match (self.role, header.mask) {
            (Role::Server, None) => return Err(ProtocolError::UnmaskedFrame),
            (Role::Client, Some(_)) => return Err(ProtocolError::MaskedFrame),
            _ => {}
        }
        let rsv1 = header.rsv & RSV1 != 0;
        if header.opcode.is_control() {
            if rsv1 {
                // Only data messages are compressed (RFC 7692 section 6.1).
                return Err(ProtocolError::ReservedBitsSet(header.rsv));
            }
            if !header.fin {
                return Err(ProtocolError::FragmentedControlFrame);
            }
            if header.payload_len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(ProtocolError::ControlFrameTooLong(header.payload_len));
            }
            self.control.clear();
        } else {
            if header.payload_len > self.max_frame_size as u64 {
                return Err(ProtocolError::FrameTooLarge {
                    len: header.payload_len,
                    max: self.max_frame_size,
                });
            }
            let kind = match header.opcode {
                OpCode::Text => Some(MessageKind::Text),
                OpCode::Binary => Some(MessageKind::Binary),
                _ => None,
            };
            match (kind, self.message.as_mut()) {
                (Some(_), Some(_)) => return Err(ProtocolError::ExpectedContinuation),
                (None, None) => return Err(ProtocolError::UnexpectedContinuation),
                // RSV1 marks the first frame of a compressed message only (section 6.1).
                (None, Some(_)) if rsv1 => return Err(ProtocolError::ReservedBitsSet(header.rsv)),
                (Some(kind), None) => {
                    self.message = Some(Box::new(MessageInProgress {
                        kind,
                        buf: Vec::new(),
                        size: 0,
                        utf8: (kind == MessageKind::Text).then(Utf8Validator::new),
                        delivered_any: false,
                        compressed: rsv1,
                        inflated: 0,
                        window: 0,
                    }));
                }
                (None, Some(_)) => {}
            }
            self.large_frames = !rsv1
                && !self.message.as_ref().is_some_and(|m| m.compressed)
                && header.payload_len >= DIRECT_FRAME_MIN;
            if let Some(message) = self.message.as_mut() {
                message.size = message.size.saturating_add(header.payload_len);
                if message.size > self.max_message_size as u64 {
                    return Err(ProtocolError::MessageTooLarge {
                        len: message.size,
                        max: self.max_message_size,
                    });
                }
                let large = message.buf.is_empty() && header.payload_len >= LARGE_PAYLOAD;
                if !message.compressed && !large {
                    // At most EAGER_RESERVE, so it fits in usize. A failed reservation is not an
                    // error: the buffer then grows as payload arrives.
                    let eager = header.payload_len.min(EAGER_RESERVE as u64) as usize;
                    if message.buf.capacity() == 0 {
                        if let Some(mut buf) = take_small(&mut self.small, header.payload_len) {
                            buf.clear();
                            message.buf = buf;
                        }
                    }
                    let _ = message.buf.try_reserve_exact(eager);
                }
                // A large frame gets its buffer with its first payload byte
                // (`Reader::large_frame_buffer`).
            }
        }
        self.frame = Some(FrameInProgress {
            header,
            received: 0,
        });
        Ok(())
    }

    /// Gives the message its buffer when the first payload byte of a large uncompressed frame is
    /// about to be stored: a recycled buffer if one fits (its stale bytes become the direct-read
    /// window, no zeroing), else a fresh one with room for the next frame's header. `in_hand` is
    /// how much of the frame the caller already holds (to be copied in, not read directly).
    ///
    /// Not at the header: the read that completes a frame brings the next header along, before
    /// the application has answered the message just completed. By the first payload byte it
    /// usually has (an echo), and its buffer came back ([`Self::recycle`]), so the same buffer,
    /// still in the CPU's caches, receives every message.
    fn large_frame_buffer(&mut self, in_hand: usize) {
        let (Some(frame), Some(message)) = (self.frame.as_ref(), self.message.as_mut()) else {
            return;
        };
        let header = &frame.header;
        if message.compressed
            || header.opcode.is_control()
            || frame.received != 0
            || message.buf.capacity() != 0
            || header.payload_len < LARGE_PAYLOAD
        {
            return;
        }
        // At most EAGER_RESERVE, so it fits in usize.
        let eager = header.payload_len.min(EAGER_RESERVE as u64) as usize;
        if let Some(mut buf) = take_recycled(&mut self.recycled, eager) {
            // The stale bytes, up to the frame's length, become the window.
            buf.truncate(eager);
            message.window = buf.len();
            message.buf = buf;
        } else if header.payload_len < DIRECT_FRAME_MIN
            || in_hand.saturating_mul(2) >= eager
            || header.payload_len - (in_hand as u64).min(header.payload_len) < DIRECT_READ_MIN
        {
            // Most of the frame is in hand (it arrived with its header), or what is not is too
            // little to be read directly: it is copied in, and only what a direct read may
            // still need is zero-filled, as the window grows (`direct_window`). Zeroing the
            // whole buffer would write most of it twice, and memory the allocator reuses is
            // zeroed by a pass over it (callgrind, 16 KiB echo: 9,000 of 31,000 instructions
            // per message went to `calloc`'s `memset`).
            let buf = Vec::with_capacity(eager + MAX_HEADER_LEN);
            message.window = 0;
            message.buf = buf;
        } else {
            // Zeroed by the allocator (calloc): fresh pages come zeroed from the kernel as they
            // are first touched, so this is a window as large as the frame (one read can take it
            // all) that costs no zero-filling pass. With room for the next frame's header past
            // the payload, which the read that completes this frame may bring along
            // (`direct_window`).
            let mut buf = alloc::vec![0; eager + MAX_HEADER_LEN];
            buf.truncate(eager);
            message.window = eager;
            message.buf = buf;
        }
    }

    /// Unmasks and stores payload bytes of the current frame; checks text as it arrives.
    fn take_payload(&mut self, chunk: &[u8]) -> Result<(), ProtocolError> {
        if !chunk.is_empty() {
            self.large_frame_buffer(chunk.len());
        }
        let Some(frame) = self.frame.as_mut() else {
            return Ok(());
        };
        // What is still to come of this frame, this chunk included.
        let frame_rest = frame.header.payload_len - frame.received;
        let target = if frame.header.opcode.is_control() {
            &mut self.control
        } else if let Some(message) = self.message.as_mut() {
            if message.compressed {
                let offset = (frame.received % 4) as usize;
                frame.received += chunk.len() as u64;
                let mask = frame.header.mask;
                return self.inflate_payload(chunk, mask, offset);
            }
            if message.window >= chunk.len() {
                // Into the window (a recycled buffer's stale bytes): no growth, no zeroing, and
                // unmasked on the way in.
                let start = message.buf.len() - message.window;
                let window = &mut message.buf[start..start + chunk.len()];
                match frame.header.mask {
                    Some(mask) => copy_masked(window, chunk, mask, (frame.received % 4) as usize),
                    None => window.copy_from_slice(chunk),
                }
                message.window -= chunk.len();
                return self.payload_stored(start, chunk.len(), true);
            }
            message.close_window();
            &mut message.buf
        } else {
            return Ok(());
        };
        let start = target.len();
        reserve_within(target, chunk.len(), frame_rest);
        match frame.header.mask {
            Some(mask) => extend_masked(target, chunk, mask, (frame.received % 4) as usize),
            None => target.extend_from_slice(chunk),
        }
        self.payload_stored(start, chunk.len(), true)
    }

    /// `len` payload bytes of the current frame were stored at `start` of the frame's buffer
    /// (copied there, or read there directly): unmask them unless `unmasked` (copied unmasking),
    /// check text, count them.
    fn payload_stored(
        &mut self,
        start: usize,
        len: usize,
        unmasked: bool,
    ) -> Result<(), ProtocolError> {
        let Some(frame) = self.frame.as_mut() else {
            return Ok(());
        };
        let offset = (frame.received % 4) as usize;
        let frame_rest = frame.header.payload_len - frame.received;
        frame.received += len as u64;
        let control = frame.header.opcode.is_control();
        let target = if control {
            &mut self.control
        } else if let Some(message) = self.message.as_mut() {
            &mut message.buf
        } else {
            return Ok(());
        };
        let Some(stored) = target.get_mut(start..start + len) else {
            return Ok(());
        };
        if let Some(mask) = frame.header.mask.filter(|_| !unmasked) {
            apply_mask(stored, mask, offset);
        }
        if !control {
            // The piece that completes a whole message is checked once, with everything before
            // it, when the message becomes a `String`: a message that arrives in one read is
            // validated in a single pass. Earlier pieces are checked as they arrive (fail fast).
            let completes_message =
                frame.header.fin && len as u64 == frame_rest && !self.stream_fragments;
            if let Some(message) = self.message.as_mut() {
                if completes_message {
                    message.utf8 = None;
                } else if let Some(utf8) = message.utf8.as_mut() {
                    utf8.feed(&message.buf[start..start + len])
                        .map_err(|_| ProtocolError::InvalidUtf8)?;
                }
            }
        }
        Ok(())
    }

    /// Keeps `buf` to receive a later large frame into, most recent first: the buffer written
    /// last is the likeliest to be still in the CPU's caches. When all slots are taken it
    /// replaces the smallest buffer kept (the oldest of equals), unless it is smaller still.
    pub(crate) fn recycle(&mut self, buf: Vec<u8>) {
        if buf.capacity() == 0 {
            return;
        }
        if self.recycled.len() == RECYCLED_BUFFERS {
            let Some(evict) = (0..RECYCLED_BUFFERS)
                .rev()
                .min_by_key(|&i| self.recycled[i].capacity())
            else {
                return;
            };
            if buf.capacity() < self.recycled[evict].capacity() {
                return;
            }
            self.recycled.remove(evict);
        } else if self.recycled.capacity() == 0 {
            self.recycled.reserve_exact(RECYCLED_BUFFERS);
        }
        self.recycled.insert(0, buf);
    }

    /// Keeps `buf`, a payload that was copied into a frame, to receive a later message into. A
    /// small one replaces the small one kept: the buffer sent last is the likeliest to match the
    /// size of what comes next (an echo, a request and its answer).
    /// Large ones go where a driver's written buffers go ([`Self::recycle`]).
    pub(crate) fn recycle_sent(&mut self, buf: Vec<u8>) {
        if (buf.capacity() as u64) >= LARGE_PAYLOAD {
            self.recycle(buf);
        } else if buf.capacity() != 0 && self.small.len() < SMALL_BUFFERS {
            // Room for one at first, doubling: a connection that echoes one message at a time
            // keeps one slot, not eight, until it goes idle.
            if self.small.len() == self.small.capacity() {
                self.small.reserve_exact(self.small.len().max(1));
            }
            self.small.push(buf);
        }
    }

    pub(crate) fn recycled_capacity(&self) -> usize {
        self.recycled
            .iter()
            .chain(&self.small)
            .map(Vec::capacity)
            .sum::<usize>()
    }

    /// Frees the recycled buffers (the connection went idle).
    pub(crate) fn release_recycled(&mut self) {
        self.recycled = Vec::new();
        self.small = Vec::new();
    }

    /// At most how many bytes the next ordinary read (into the driver's buffer) should take,
    /// while large frames flow: the rest of the current frame plus one frame header. A larger
    /// read would pull the next frame's payload into the driver's buffer, to be copied from
    /// there, where it can instead be read straight into its message ([`Self::direct_window`]).
    /// `None`: no limit.
    pub(crate) fn read_limit(&self) -> Option<usize> {
        if !self.large_frames {
            return None;
        }
        let rest = self
            .frame
            .as_ref()
            .map_or(0, |frame| frame.header.payload_len - frame.received);
        // A frame may be longer than memory (the read is what is bounded).
        let rest = usize::try_from(rest).unwrap_or(usize::MAX);
        Some(rest.saturating_add(MAX_HEADER_LEN - usize::from(self.header_len)))
    }

    /// Where a driver may read the current frame's payload directly, skipping the copy from its
    /// own buffer: the zero-filled end of the message buffer, at most the rest of the frame and,
    /// when that much fits, room for the next frame's header after it. The read that completes a
    /// frame then also brings the next header along ([`Self::direct_commit`] hands those bytes
    /// back), which saves one small read per large frame. The header room comes from capacity
    /// already reserved; it is never a reason to reallocate. `None` unless a large uncompressed
    /// data frame is under way.
    pub(crate) fn direct_window(&mut self) -> Option<&mut [u8]> {
        // Between frames (the common case, asked before every read) in two loads.
        if self.header_len != 0 || self.frame.is_none() {
            return None;
        }
        self.large_frame_buffer(0);
        let frame = self.frame.as_ref()?;
        let message = self.message.as_mut()?;
        let rest = frame.header.payload_len - frame.received;
        if frame.header.opcode.is_control()
            || message.compressed
            || frame.header.payload_len < DIRECT_FRAME_MIN
            || rest < DIRECT_READ_MIN
        {
            return None;
        }
        let filled = message.buf.len() - message.window;
        // Within the frame, so within the limits and usize.
        let target = rest.min(filled.max(DIRECT_WINDOW_MIN) as u64) as usize;
        if message.window < target {
            // Zero only what the window gains. Capacity is usually reserved already (the eager
            // reservation); the window itself grows geometrically, so an exact reservation
            // keeps reallocations rare and capacity within twice what arrived (plus the minimum).
            message.buf.reserve_exact(target - message.window);
            message.buf.resize(filled + target, 0);
            message.window = target;
        }
        if message.window as u64 == rest {
            let room = message.buf.capacity() - message.buf.len();
            let header_room = room.min(MAX_HEADER_LEN);
            message.buf.resize(message.buf.len() + header_room, 0);
            message.window += header_room;
        }
        message.buf.get_mut(filled..)
    }

    /// The driver read `n` bytes into the window [`direct_window`](Self::direct_window) gave
    /// out: they are payload now, up to the end of the frame. Returns what they complete, as
    /// [`read`](Self::read) does, and the bytes read past the end of the frame (the start of
    /// the next one), which the caller must feed to [`read`](Self::read) next.
    pub(crate) fn direct_commit(
        &mut self,
        n: usize,
    ) -> (Result<Option<Incoming>, ProtocolError>, NextHeader) {
        let mut next = NextHeader::default();
        let (Some(frame), Some(message)) = (self.frame.as_ref(), self.message.as_mut()) else {
            return (Ok(None), next);
        };
        let n = n.min(message.window);
        let rest = usize::try_from(frame.header.payload_len - frame.received).unwrap_or(usize::MAX);
        let payload = n.min(rest);
        let start = message.buf.len() - message.window;
        if let Some(past_end) = message.buf.get(start + payload..start + n) {
            next.store(past_end);
        }
        if payload == 0 {
            return (Ok(None), next);
        }
        // The rest of the window stays zero-filled (or holds bytes already handed back) for
        // the next read; the frame's end closes it.
        message.window -= payload;
        if let Err(error) = self.payload_stored(start, payload, false) {
            return (Err(error), next);
        }
        let complete = self
            .frame
            .as_ref()
            .is_some_and(|f| f.received == f.header.payload_len);
        if complete {
            (self.finish_frame(), next)
        } else {
            (Ok(None), next)
        }
    }

    /// Unmasks compressed payload block by block on the stack and inflates it into the message,
    /// within what `max_message_size` leaves; new text is UTF-8-checked as it comes out.
    fn inflate_payload(
        &mut self,
        chunk: &[u8],
        mask: Option<[u8; 4]>,
        mut offset: usize,
    ) -> Result<(), ProtocolError> {
        let mut block = [0u8; UNMASK_BLOCK];
        for piece in chunk.chunks(UNMASK_BLOCK) {
            let input = match mask {
                Some(mask) => {
                    let unmasked = &mut block[..piece.len()];
                    unmasked.copy_from_slice(piece);
                    apply_mask(unmasked, mask, offset);
                    offset = (offset + piece.len()) % 4;
                    &block[..piece.len()]
                }
                None => piece,
            };
            self.inflate_into_message(input, false)?;
        }
        Ok(())
    }

    /// Inflates `input` (already unmasked) into the message in progress; at the end of the
    /// message the inflater appends the tail the sender removed.
    fn inflate_into_message(
        &mut self,
        input: &[u8],
        end_of_message: bool,
    ) -> Result<(), ProtocolError> {
        let (Some(inflater), Some(message)) = (self.inflater.as_mut(), self.message.as_mut())
        else {
            return Ok(());
        };
        let start = message.buf.len();
        let budget = (self.max_message_size as u64).saturating_sub(message.inflated) as usize;
        let result = if end_of_message {
            inflater.finish_message(&mut message.buf, budget)
        } else {
            inflater.inflate(input, &mut message.buf, budget)
        };
        let produced = match result {
            Ok(produced) => produced,
            Err(InflateError::TooLarge) => {
                return Err(ProtocolError::MessageTooLarge {
                    len: message.inflated + (message.buf.len() - start) as u64,
                    max: self.max_message_size,
                })
            }
            Err(InflateError::Corrupt) => return Err(ProtocolError::InvalidCompressedData),
        };
        message.inflated += produced as u64;
        if let Some(utf8) = message.utf8.as_mut() {
            utf8.feed(&message.buf[start..])
                .map_err(|_| ProtocolError::InvalidUtf8)?;
        }
        Ok(())
    }

    /// The current frame's payload is complete: produce what it completes, if anything.
    fn finish_frame(&mut self) -> Result<Option<Incoming>, ProtocolError> {
        let Some(frame) = self.frame.take() else {
            return Ok(None);
        };
        let header = frame.header;
        if header.opcode.is_control() {
            let payload = core::mem::take(&mut self.control);
            return Ok(Some(match header.opcode {
                OpCode::Ping => Incoming::Ping(Bytes::from(payload)),
                OpCode::Pong => Incoming::Pong(Bytes::from(payload)),
                _ => Incoming::Close(CloseFrame::parse(&payload).map_err(|e| match e {
                    ClosePayloadError::Truncated => ProtocolError::TruncatedClosePayload,
                    ClosePayloadError::InvalidCode(code) => ProtocolError::InvalidCloseCode(code),
                    ClosePayloadError::InvalidReason => ProtocolError::InvalidCloseReason,
                })?),
            }));
        }
        if let Some(message) = self.message.as_mut() {
            message.close_window();
        }
        if header.fin && self.message.as_ref().is_some_and(|m| m.compressed) {
            self.inflate_into_message(&[], true)?;
        }
        if header.fin {
            if let Some(utf8) = self.message.as_mut().and_then(|m| m.utf8.as_mut()) {
                utf8.finish().map_err(|_| ProtocolError::InvalidUtf8)?;
            }
        }
        if self.stream_fragments {
            let Some(message) = self.message.as_mut() else {
                return Ok(None);
            };
            let fragment = Fragment {
                kind: message.kind,
                data: Bytes::from(core::mem::take(&mut message.buf)),
                first: !message.delivered_any,
                last: header.fin,
            };
            message.delivered_any = true;
            if header.fin {
                self.message = None;
            }
            return Ok(Some(Incoming::Fragment(fragment)));
        }
        if !header.fin {
            return Ok(None);
        }
        let Some(message) = self.message.take() else {
            return Ok(None);
        };
        Ok(Some(match message.kind {
            MessageKind::Binary => Incoming::Binary(Bytes::from(message.buf)),
            MessageKind::Text => Incoming::Text(
                Utf8Bytes::from_checked_vec(message.buf).ok_or(ProtocolError::InvalidUtf8)?,
            ),
        }))
    }
}

/// The most recent recycled buffer with room for `len` bytes, contents and all (stale bytes).
fn take_recycled(recycled: &mut Vec<Vec<u8>>, len: usize) -> Option<Vec<u8>> {
    let fits = recycled.iter().position(|b| b.capacity() >= len)?;
    Some(recycled.remove(fits))
}

/// A kept small buffer whose capacity is exactly `len` (stale bytes and all), if there is one.
/// Exactly: a `Bytes` made from a buffer with spare capacity allocates a header to own it (and
/// the application would hold the spare bytes as long as it keeps the message), which is what
/// reusing the buffer saves.
fn take_small(small: &mut Vec<Vec<u8>>, len: u64) -> Option<Vec<u8>> {
    if len == 0 {
        return None;
    }
    let fits = small.iter().rposition(|b| b.capacity() as u64 == len)?;
    Some(small.swap_remove(fits))
}

/// Makes room for `additional` bytes, growing geometrically (so a frame that trickles in costs
/// amortized O(1) per byte) but never past the end of the current frame: capacity stays within
/// what the headers announced, hence within the limits, and a delivered message carries no slack.
fn reserve_within(buf: &mut Vec<u8>, additional: usize, frame_rest: u64) {
    let needed = buf.len() + additional;
    if needed <= buf.capacity() {
        return;
    }
    let frame_end = buf.len() as u64 + frame_rest;
    let doubled = (buf.capacity() as u64 * 2).max(needed as u64);
    // `frame_end` is at least `needed`, and at most a configured limit, so it fits in usize.
    let target = doubled.min(frame_end) as usize;
    buf.reserve_exact(target - buf.len());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_never_passes_the_end_of_the_frame() {
        // 600,000 bytes of a 600,001-byte frame, then the last byte: doubling would give 1.2 MB.
        let mut buf = Vec::new();
        reserve_within(&mut buf, 600_000, 600_001);
        buf.extend_from_slice(&[0; 600_000]);
        reserve_within(&mut buf, 1, 1);
        buf.push(0);
        assert_eq!(buf.capacity(), 600_001);
    }

    #[test]
    fn trickled_bytes_grow_geometrically() {
        let mut buf = Vec::new();
        let mut reallocations = 0;
        for rest in (1..=100_000u64).rev() {
            let cap = buf.capacity();
            reserve_within(&mut buf, 1, rest);
            buf.push(0);
            reallocations += usize::from(buf.capacity() != cap);
        }
        assert!(reallocations < 40, "{reallocations}");
        assert!(buf.capacity() <= 100_000);
    }
}
