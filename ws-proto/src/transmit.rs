//! Where [`Connection::poll`](crate::Connection::poll) puts the bytes to write.
//!
//! Small frames are coalesced into one owned buffer, so a driver makes one write for a batch of
//! them. A large payload the application handed over as [`Bytes`] (a server's unmasked, uncompressed
//! frame) is not copied: it stays a shared segment after its header, for a vectored write. A
//! driver chooses how much of that it wants by the buffer it polls into:
//!
//! - `Vec<u8>`: everything is copied into one contiguous buffer (the simplest event loop);
//! - [`Transmit`]: owned and shared segments in order, for `writev`-style writes.

use crate::queue::reserve_one;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use bytes::Bytes;

/// A destination for bytes to transmit.
pub trait TransmitBuf {
    /// Appends the frame bytes in `bytes` and leaves `bytes` empty. It may swap buffers instead
    /// of copying, handing back an empty buffer with capacity for the queue to reuse.
    fn put_owned(&mut self, bytes: &mut Vec<u8>);
    /// Appends a shared payload segment.
    fn put_shared(&mut self, bytes: Bytes);
}

impl TransmitBuf for Vec<u8> {
    fn put_owned(&mut self, bytes: &mut Vec<u8>) {
        if self.is_empty() {
            // Take the whole buffer instead of copying it; ours (empty) goes back for reuse.
            core::mem::swap(self, bytes);
        } else {
            self.extend_from_slice(bytes);
            bytes.clear();
        }
    }

    fn put_shared(&mut self, bytes: Bytes) {
        self.extend_from_slice(&bytes);
    }
}

/// Bytes to transmit as a sequence of segments, written front to back.
///
/// Drivers that can write vectored (`writev`) poll into this: large payloads the application
/// handed over are written from its own buffer, and frames written are
/// [`advance`](Self::advance)d past. Emptied owned buffers are recycled, so a busy connection
/// allocates no output buffer per batch; [`shrink`](Self::shrink) frees them when it goes idle.
#[derive(Debug, Default)]
pub struct Transmit {
    /// Owned bytes written before everything in `segments`: most output is a batch of small
    /// frames in one buffer, which then needs no segment list (no allocation, no push and pop
    /// per batch). Empty, its capacity is the spare buffer kept for the next batch.
    first: Vec<u8>,
    /// What comes after `first`: shared payloads, and the owned bytes between and after them.
    segments: VecDeque<Segment>,
    /// Bytes of the front segment (`first` if it holds any) already written.
    offset: usize,
    /// Bytes not yet written, over all segments.
    len: usize,
    /// A large shared payload that was written and is no longer referenced anywhere else: its
    /// memory can receive the next large message ([`take_reusable`](Self::take_reusable)).
    reusable: Vec<Vec<u8>>,
}

/// Written payload buffers kept for [`Transmit::take_reusable`] at most.
const REUSABLE_MAX: usize = 2;

/// Written shared payloads at least this large are kept for reuse.
const REUSE_MIN: usize = 16 * 1024;

#[derive(Debug)]
enum Segment {
    Owned(Vec<u8>),
    Shared(Bytes),
}

impl Segment {
    fn bytes(&self) -> &[u8] {
        match self {
            Segment::Owned(bytes) => bytes,
            Segment::Shared(bytes) => bytes,
        }
    }
}

impl Transmit {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes not yet written.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether everything was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The unwritten bytes, segment by segment, in order (none of them empty).
    pub fn chunks(&self) -> impl Iterator<Item = &[u8]> + '_ {
        // The offset applies to the front segment: `first` when it holds bytes.
        let (first, first_offset, rest_offset) = if self.first.is_empty() {
            (&[][..], 0, self.offset)
        } else {
            (&self.first[..], self.offset, 0)
        };
        let first = first.get(first_offset..).unwrap_or_default();
        core::iter::once(first)
            .chain(self.segments.iter().enumerate().map(move |(i, segment)| {
                let bytes = segment.bytes();
                if i == 0 {
                    bytes.get(rest_offset..).unwrap_or_default()
                } else {
                    bytes
                }
            }))
            .filter(|chunk| !chunk.is_empty())
    }

    /// Marks `n` more bytes as written (at most [`len`](Self::len)).
    pub fn advance(&mut self, n: usize) {
        let mut n = n.min(self.len);
        self.len -= n;
        if !self.first.is_empty() {
            let rest = self.first.len() - self.offset;
            if n < rest {
                self.offset += n;
                return;
            }
            n -= rest;
            // Written: its capacity is the spare buffer now.
            self.first.clear();
            self.offset = 0;
        }
        while n > 0 {
            let Some(front) = self.segments.front() else {
                break;
            };
            let rest = front.bytes().len() - self.offset;
            if n < rest {
                self.offset += n;
                return;
            }
            n -= rest;
            self.pop_front();
        }
        // Drop segments left empty (a zero-length shared payload).
        while self
            .segments
            .front()
            .is_some_and(|s| s.bytes().len() == self.offset)
        {
            self.pop_front();
        }
    }

    /// Drops everything not yet written (the connection is being torn down).
    pub fn clear(&mut self) {
        self.first.clear();
        self.offset = 0;
        while !self.segments.is_empty() {
            self.pop_front();
        }
        self.len = 0;
    }

    /// Frees what is kept for reuse (call it when the connection goes idle): the spare buffer if
    /// its capacity is beyond `keep` bytes, the segment list's storage once empty, and written
    /// payloads held for reuse. `keep` 0 frees everything not holding unwritten bytes.
    ///
    /// The segment list goes whatever `keep` says: only shared payloads (large messages, the
    /// handshake response, prepared messages) and what follows them need it, so a connection
    /// that writes small frames would otherwise keep it from its handshake until the idle
    /// release, and allocating it again costs little next to a payload worth sharing.
    pub fn shrink(&mut self, keep: usize) {
        if self.first.is_empty() && self.first.capacity() > keep {
            self.first = Vec::new();
        }
        // Each only when there is something to free: an echo that catches up with its peer
        // comes here once every few messages.
        if self.reusable.capacity() != 0 {
            self.reusable = Vec::new();
        }
        if self.segments.is_empty() && self.segments.capacity() != 0 {
            self.segments = VecDeque::new();
        }
    }

    /// A written payload's buffer nobody else holds (an echoed or forwarded message, say), for
    /// [`Connection::recycle_buffer`](crate::Connection::recycle_buffer): receiving into memory
    /// already in use costs no page faults. Its contents are stale bytes, not zeroes.
    pub fn take_reusable(&mut self) -> Option<Vec<u8>> {
        self.reusable.pop()
    }

    /// The spare buffer (empty, with capacity), if `first` is not in use.
    fn take_spare(&mut self) -> Vec<u8> {
        if self.first.is_empty() {
            core::mem::take(&mut self.first)
        } else {
            Vec::new()
        }
    }

    fn pop_front(&mut self) {
        self.offset = 0;
        match self.segments.pop_front() {
            Some(Segment::Owned(mut bytes))
                if self.first.is_empty() && bytes.capacity() > self.first.capacity() =>
            {
                bytes.clear();
                self.first = bytes;
            }
            Some(Segment::Shared(bytes))
                if bytes.len() >= REUSE_MIN && self.reusable.len() < REUSABLE_MAX =>
            {
                // Only the sole owner gets the memory back; otherwise this drops a reference.
                if let Ok(bytes) = bytes.try_into_mut() {
                    let buf = Vec::from(bytes);
                    // Not a message that was a slice of a larger read buffer (a driver's
                    // `Connection::handle_read_buf`): the whole buffer would be kept to receive
                    // messages a quarter its size (64 KiB text echo: peak RSS 39-62 MB against
                    // 22-28 MB). Freed instead.
                    if buf.capacity() / 2 <= buf.len() {
                        self.reusable.push(buf);
                    }
                }
            }
            _ => {}
        }
    }
}

impl TransmitBuf for Transmit {
    fn put_owned(&mut self, bytes: &mut Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        self.len += bytes.len();
        if self.segments.is_empty() {
            if self.first.is_empty() {
                // Take the buffer; the spare (empty, with capacity) goes back for reuse.
                core::mem::swap(&mut self.first, bytes);
                self.offset = 0;
            } else {
                self.first.extend_from_slice(bytes);
                bytes.clear();
            }
        } else if let Some(Segment::Owned(last)) = self.segments.back_mut() {
            last.extend_from_slice(bytes);
            bytes.clear();
        } else {
            let mut taken = self.take_spare();
            core::mem::swap(&mut taken, bytes);
            reserve_one(&mut self.segments);
            self.segments.push_back(Segment::Owned(taken));
        }
    }

    fn put_shared(&mut self, bytes: Bytes) {
        if !bytes.is_empty() {
            self.len += bytes.len();
            reserve_one(&mut self.segments);
            self.segments.push_back(Segment::Shared(bytes));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use bytes::BytesMut;

    fn collect(t: &Transmit) -> Vec<u8> {
        t.chunks().flatten().copied().collect()
    }

    #[test]
    fn segments_come_out_in_order_and_advance_across_them() {
        let mut t = Transmit::new();
        t.put_owned(&mut vec![1, 2]);
        t.put_owned(&mut vec![3]);
        t.put_shared(Bytes::from_static(&[4, 5, 6]));
        t.put_shared(Bytes::new());
        t.put_owned(&mut vec![7]);
        assert_eq!(t.len(), 7);
        assert_eq!(t.chunks().count(), 3, "owned bytes coalesce");
        assert_eq!(collect(&t), [1, 2, 3, 4, 5, 6, 7]);
        t.advance(1);
        assert_eq!(collect(&t), [2, 3, 4, 5, 6, 7]);
        t.advance(3);
        assert_eq!(collect(&t), [5, 6, 7], "part of the shared segment written");
        assert_eq!(t.chunks().count(), 2);
        t.advance(2);
        assert_eq!(collect(&t), [7]);
        t.advance(10);
        assert!(t.is_empty());
        assert_eq!(t.chunks().count(), 0);
    }

    #[test]
    fn every_split_of_a_write_yields_the_same_bytes() {
        let mut all = Vec::new();
        for cut in 0..=9 {
            let mut t = Transmit::new();
            t.put_owned(&mut vec![0, 1, 2]);
            t.put_shared(Bytes::from_static(&[3, 4, 5, 6]));
            t.put_owned(&mut vec![7, 8]);
            let mut out = Vec::new();
            out.extend(t.chunks().flatten().take(cut));
            t.advance(cut);
            out.extend(collect(&t));
            assert_eq!(t.len(), 9 - cut);
            all.push(out);
        }
        assert!(all.iter().all(|o| o == &[0, 1, 2, 3, 4, 5, 6, 7, 8]));
    }

    #[test]
    fn interleaved_puts_and_partial_writes_match_a_plain_byte_queue() {
        // A model: every byte put, in order; `written` of them gone. Owned and shared puts
        // and writes of every size interleave, so `first`, the segments behind it, and the
        // hand-back of spare buffers are all exercised.
        let mut seed = 0x2545_f491_u32;
        let mut next = move |bound: u32| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed % bound
        };
        let mut t = Transmit::new();
        let (mut model, mut written, mut counter) = (Vec::new(), 0, 0u8);
        let mut core_buf = Vec::new();
        for _ in 0..5_000 {
            match next(4) {
                0 | 1 => {
                    let len = next(40) as usize;
                    let bytes: Vec<u8> = (0..len)
                        .map(|_| {
                            counter = counter.wrapping_add(1);
                            counter
                        })
                        .collect();
                    model.extend_from_slice(&bytes);
                    if next(2) == 0 {
                        core_buf.extend_from_slice(&bytes);
                        t.put_owned(&mut core_buf);
                        assert!(core_buf.is_empty());
                    } else {
                        t.put_shared(Bytes::from(bytes));
                    }
                }
                _ => {
                    let n = next(60) as usize;
                    let before = t.len();
                    t.advance(n);
                    written += before - t.len();
                }
            }
            assert_eq!(t.len(), model.len() - written);
            assert_eq!(collect(&t), model[written..]);
            assert!(t.chunks().all(|c| !c.is_empty()));
        }
    }

    #[test]
    fn written_owned_buffers_are_recycled() {
        let mut t = Transmit::new();
        let mut frames = Vec::with_capacity(1000);
        frames.extend_from_slice(&[1; 10]);
        t.put_owned(&mut frames);
        assert_eq!(frames.capacity(), 0, "took the buffer without copying");
        t.advance(10);
        let mut next = vec![2; 5];
        t.put_owned(&mut next);
        assert!(next.capacity() >= 1000, "handed the written buffer back");
        t.put_owned(&mut vec![0; 2000]);
        t.advance(2005);
        assert!(
            t.first.capacity() >= 2000,
            "kept the largest written buffer"
        );
        t.shrink(100);
        assert_eq!(t.first.capacity(), 0, "idle: freed");
    }

    #[test]
    fn a_written_payload_nobody_else_holds_is_offered_for_reuse() {
        let mut t = Transmit::new();
        let held = Bytes::from(vec![1u8; 20_000]);
        t.put_shared(held.clone());
        t.put_shared(Bytes::from(vec![2u8; 30_000]));
        t.put_shared(Bytes::from(vec![3u8; 100]));
        t.advance(50_100);
        let reused = t.take_reusable().expect("the unshared 30 KB payload");
        assert!(reused.capacity() >= 30_000 && reused.capacity() < 40_000);
        assert!(
            t.take_reusable().is_none(),
            "the held one and the small one are not offered"
        );
        drop(held);
        t.put_shared(Bytes::from(vec![4u8; 40_000]));
        t.shrink(0);
        t.advance(40_000);
        assert!(t.take_reusable().is_some());
        t.shrink(0);
        assert!(t.take_reusable().is_none(), "idle: freed");
    }

    #[test]
    fn a_written_slice_of_a_much_larger_buffer_is_freed_not_offered() {
        // As `Connection::handle_read_buf` hands out a large message: a slice of a read buffer
        // four times its size, the rest of which was taken by messages dropped since.
        let mut read = BytesMut::with_capacity(256 * 1024);
        read.resize(256 * 1024, 5);
        let message = read.split_to(64 * 1024).freeze();
        drop(read);
        let mut t = Transmit::new();
        t.put_shared(message);
        t.advance(64 * 1024);
        assert!(
            t.take_reusable().is_none(),
            "256 KiB kept for 64 KiB messages"
        );
        // A message in a buffer of its own size is offered, as before.
        t.put_shared(Bytes::from(vec![6u8; 64 * 1024]));
        t.advance(64 * 1024);
        assert!(t.take_reusable().is_some());
    }

    #[test]
    fn a_vec_copies_shared_segments() {
        let mut v = Vec::new();
        v.put_owned(&mut vec![1]);
        v.put_shared(Bytes::from_static(&[2, 3]));
        v.put_owned(&mut vec![4]);
        assert_eq!(v, [1, 2, 3, 4]);
    }
}
