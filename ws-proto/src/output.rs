//! The one ordered output queue: frames to write, socket actions and events.
//!
//! Order is the contract: a write-side shutdown comes after the last Close frame, `Closed` after
//! the socket is released, every message before the `CloseReceived` that followed it on the wire.
//! Consecutive frames are coalesced into one buffer so a driver makes one write for them.
//!
//! Read two ways. [`OutputQueue::poll`] hands out everything in order, for an event loop that
//! acts on each item as it comes. A driver that lets the application take messages at its own
//! pace splits it instead: [`OutputQueue::poll_io`] takes what the driver acts on (bytes,
//! socket actions, deferred failures, `Closed`), passing over the application's events, which
//! stay queued, in order, for [`OutputQueue::poll_event`]. One queue then serves both, so a
//! driver needs no second queue of its own (and no copy of every event into it).

use crate::error::ProtocolError;
use crate::event::{Action, Event};
use crate::frame::{encode_frame, FrameHeader, OpCode};
use crate::queue::reserve_one;
use crate::transmit::TransmitBuf;
use crate::Instant;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use bytes::Bytes;

#[derive(Debug)]
enum Output {
    Bytes(Vec<u8>),
    /// A payload written from the application's own buffer, after the header that precedes it.
    Shared(Bytes),
    ShutdownWrite,
    CloseSocket,
    Event(Event),
    /// A protocol error detected at `Instant`: the connection fails when the driver gets here,
    /// so the application can still answer the messages that arrived before the bad frame.
    Failure(ProtocolError, Instant),
}

/// What the queue yields: an action for the driver, or a deferred failure for the connection.
pub(crate) enum Polled {
    Action(Action),
    Failure(ProtocolError, Instant),
}

#[derive(Debug, Default)]
pub(crate) struct OutputQueue {
    items: VecDeque<Output>,
    /// Frame bytes that come after every item in `items`: where frames are encoded while no
    /// failure is deferred, which is nearly always. Most output is frames sent one after
    /// another, so this keeps it out of the queue: no item to add, find or take per frame.
    /// Anything else queued (an event, a socket action) first moves these bytes into `items`,
    /// so the order holds.
    ///
    /// When empty, its capacity is kept for the next batch of frames: `poll` hands this buffer
    /// to the driver and takes the driver's (already written) one back, so a busy connection
    /// allocates no output buffer per batch. `shrink` frees it when the connection goes idle.
    tail: Vec<u8>,
    /// Deferred failures in `items`: while there is one, frames go just before it instead of
    /// into `tail`.
    failures: usize,
    /// Bytes queued and not yet handed out by `poll`.
    queued_bytes: usize,
    /// Bytes handed out by `poll` and not yet reported written.
    in_flight: usize,
    /// Application events in `items` (every event but `Closed`): what `poll_io` passes over.
    events: usize,
}

/// An event for the application (what [`OutputQueue::poll_io`] leaves queued): every event but
/// `Closed`, which ends the connection and is the driver's to act on.
fn is_app_event(item: &Output) -> bool {
    matches!(item, Output::Event(event) if !matches!(event, Event::Closed(_)))
}

impl OutputQueue {
    /// Encodes a frame at the end of the queue, or, while a failure is deferred, just before it:
    /// the application's answers to the messages that preceded a bad frame go out before the
    /// Close that the failure sends.
    pub(crate) fn frame(
        &mut self,
        fin: bool,
        rsv: u8,
        opcode: OpCode,
        mask: Option<[u8; 4]>,
        payload: &[u8],
    ) {
        if let Some(buf) = self.frame_buf() {
            let before = buf.len();
            encode_frame(buf, fin, rsv, opcode, mask, payload);
            self.queued_bytes += buf.len() - before;
        }
    }

    /// Queues an already encoded frame, where [`frame`](Self::frame) would put it.
    pub(crate) fn encoded(&mut self, frame: &[u8]) {
        if let Some(buf) = self.frame_buf() {
            buf.extend_from_slice(frame);
            self.queued_bytes += frame.len();
        }
    }

    /// The buffer the next frame goes into: `tail`, or, while a failure is deferred, the byte
    /// buffer just before it.
    fn frame_buf(&mut self) -> Option<&mut Vec<u8>> {
        if self.failures == 0 {
            return Some(&mut self.tail);
        }
        let index = self.frame_index();
        match self.items.get_mut(index) {
            Some(Output::Bytes(buf)) => Some(buf),
            _ => None,
        }
    }

    /// Queues an unmasked frame whose payload is written from `payload` itself, not copied.
    pub(crate) fn shared_frame(&mut self, fin: bool, rsv: u8, opcode: OpCode, payload: Bytes) {
        let header = FrameHeader {
            fin,
            rsv,
            opcode,
            mask: None,
            payload_len: payload.len() as u64,
        };
        if let Some(buf) = self.frame_buf() {
            let before = buf.len();
            header.encode(buf);
            self.queued_bytes += buf.len() - before;
        }
        self.shared_encoded(payload);
    }

    /// Queues an already encoded frame without copying it, where [`frame`](Self::frame) would
    /// put it.
    pub(crate) fn shared_encoded(&mut self, bytes: Bytes) {
        self.queued_bytes += bytes.len();
        if self.failures == 0 {
            self.push(Output::Shared(bytes));
        } else {
            let at = self.insert_point();
            self.insert(at, Output::Shared(bytes));
        }
    }

    /// Where the next frame goes while a failure is deferred: the byte buffer just before it,
    /// created if the item there is not one.
    fn frame_index(&mut self) -> usize {
        let at = self.insert_point();
        let append = at
            .checked_sub(1)
            .is_some_and(|i| matches!(self.items.get(i), Some(Output::Bytes(_))));
        if append {
            at - 1
        } else {
            self.insert(at, Output::Bytes(Vec::new()));
            at
        }
    }

    /// Moves the frame bytes in `tail` into `items`, ahead of an item about to be queued.
    fn seal_tail(&mut self) {
        if !self.tail.is_empty() {
            let bytes = core::mem::take(&mut self.tail);
            reserve_one(&mut self.items);
            self.items.push_back(Output::Bytes(bytes));
        }
    }

    fn insert(&mut self, at: usize, item: Output) {
        reserve_one(&mut self.items);
        self.items.insert(at, item);
    }

    /// Queues `item` after everything queued so far, frames in `tail` included.
    fn push(&mut self, item: Output) {
        self.seal_tail();
        reserve_one(&mut self.items);
        self.items.push_back(item);
    }

    /// Where frames go: just before a deferred failure, or at the end.
    fn insert_point(&self) -> usize {
        self.items
            .iter()
            .position(|item| matches!(item, Output::Failure(..)))
            .unwrap_or(self.items.len())
    }

    /// Queues bytes as they are (the HTTP response that precedes the first frame), written from
    /// their own buffer and freed once written: sized for the response, it would make a poor
    /// output buffer to keep, and every connection would keep it until idle.
    #[cfg(feature = "handshake")]
    pub(crate) fn preface(&mut self, bytes: Vec<u8>) {
        self.shared_encoded(Bytes::from(bytes.into_boxed_slice()));
    }

    pub(crate) fn event(&mut self, event: Event) {
        let item = Output::Event(event);
        if is_app_event(&item) {
            self.events += 1;
        }
        self.push(item);
    }

    /// Application events queued ([`poll_event`](Self::poll_event) has them in order).
    pub(crate) fn queued_events(&self) -> usize {
        self.events
    }

    /// Whether [`poll_io`](Self::poll_io) may yield something: anything queued but events.
    pub(crate) fn has_io(&self) -> bool {
        !self.tail.is_empty() || self.items.len() != self.events
    }

    pub(crate) fn shutdown_write(&mut self) {
        self.push(Output::ShutdownWrite);
    }

    pub(crate) fn close_socket(&mut self) {
        self.push(Output::CloseSocket);
    }

    pub(crate) fn failure(&mut self, error: ProtocolError, now: Instant) {
        self.push(Output::Failure(error, now));
        self.failures += 1;
    }

    /// Whether the next item is a deferred failure.
    pub(crate) fn failure_is_next(&self) -> bool {
        matches!(self.items.front(), Some(Output::Failure(..)))
    }

    /// Removes a deferred failure (it is being applied early).
    pub(crate) fn remove_failure(&mut self) {
        self.items
            .retain(|item| !matches!(item, Output::Failure(..)));
        self.failures = 0;
    }

    /// Drops frames not yet written, any pending shutdown and deferred failure (for
    /// `terminate()` and transport errors); events stay.
    pub(crate) fn discard_unsent(&mut self) {
        self.items
            .retain(|item| matches!(item, Output::Event(_) | Output::CloseSocket));
        self.tail.clear();
        self.failures = 0;
        self.queued_bytes = 0;
        self.in_flight = 0;
    }

    /// Bytes queued or handed out but not reported written.
    pub(crate) fn buffered_amount(&self) -> usize {
        self.queued_bytes + self.in_flight
    }

    pub(crate) fn written(&mut self, n: usize) {
        self.in_flight = self.in_flight.saturating_sub(n);
    }

    fn transmitted(&mut self, n: usize) -> Action {
        self.queued_bytes = self.queued_bytes.saturating_sub(n);
        self.in_flight += n;
        Action::Transmit(n)
    }

    /// Frees what the queue keeps for reuse if it is larger than `keep` bytes: the empty frame
    /// buffer, and the storage of the queue itself when it is empty. `keep` 0 frees both.
    pub(crate) fn shrink(&mut self, keep: usize) {
        if self.tail.is_empty() && self.tail.capacity() > keep {
            self.tail = Vec::new();
        }
        if self.items.is_empty() && self.items.capacity() * core::mem::size_of::<Output>() > keep {
            self.items = VecDeque::new();
        }
    }

    /// The next item, whatever it is, in order.
    pub(crate) fn poll<B: TransmitBuf + ?Sized>(&mut self, buf: &mut B) -> Option<Polled> {
        let Some(item) = self.items.pop_front() else {
            return self.poll_tail(buf);
        };
        if is_app_event(&item) {
            self.events = self.events.saturating_sub(1);
        }
        Some(self.hand_out(item, buf))
    }

    /// The next item that is not an application event: bytes, a socket action, a deferred
    /// failure or `Closed`. Events before it stay queued for [`poll_event`](Self::poll_event);
    /// the order among what this yields, and between each and the events, is the queue's.
    ///
    /// A deferred failure with events before it is not yielded: the application takes (and
    /// may answer) those events first, and nothing else goes out before the failure is applied
    /// (the frames the application sends meanwhile are queued ahead of it).
    pub(crate) fn poll_io<B: TransmitBuf + ?Sized>(&mut self, buf: &mut B) -> Option<Polled> {
        // Nearly always: nothing but events (or nothing) queued, so no search.
        if self.items.len() == self.events {
            return self.poll_tail(buf);
        }
        let index = self.items.iter().position(|item| !is_app_event(item))?;
        if index > 0 && matches!(self.items.get(index), Some(Output::Failure(..))) {
            return None;
        }
        let item = self.items.remove(index)?;
        Some(self.hand_out(item, buf))
    }

    /// The application's next event, if one is at the front of the queue (behind anything
    /// [`poll_io`](Self::poll_io) has not taken yet, it waits for that).
    pub(crate) fn poll_event(&mut self) -> Option<Event> {
        if !self.items.front().is_some_and(is_app_event) {
            return None;
        }
        match self.items.pop_front() {
            Some(Output::Event(event)) => {
                self.events = self.events.saturating_sub(1);
                Some(event)
            }
            _ => None,
        }
    }

    /// Hands out the frame bytes after every item.
    fn poll_tail<B: TransmitBuf + ?Sized>(&mut self, buf: &mut B) -> Option<Polled> {
        if self.tail.is_empty() {
            return None;
        }
        // The destination may take our buffer and hand back an empty one, kept as the next
        // batch's.
        let n = self.tail.len();
        buf.put_owned(&mut self.tail);
        self.tail.clear();
        Some(Polled::Action(self.transmitted(n)))
    }

    /// Hands out one item taken off the queue.
    fn hand_out<B: TransmitBuf + ?Sized>(&mut self, item: Output, buf: &mut B) -> Polled {
        Polled::Action(match item {
            Output::Bytes(mut bytes) => {
                let n = bytes.len();
                buf.put_owned(&mut bytes);
                // Keep the larger empty buffer for the next batch.
                if self.tail.is_empty() && bytes.capacity() > self.tail.capacity() {
                    bytes.clear();
                    self.tail = bytes;
                }
                self.transmitted(n)
            }
            Output::Shared(bytes) => {
                let n = bytes.len();
                buf.put_shared(bytes);
                self.transmitted(n)
            }
            Output::ShutdownWrite => Action::ShutdownWrite,
            Output::CloseSocket => Action::CloseSocket,
            Output::Event(event) => Action::Event(event),
            Output::Failure(error, now) => {
                self.failures = self.failures.saturating_sub(1);
                return Polled::Failure(error, now);
            }
        })
    }
}
