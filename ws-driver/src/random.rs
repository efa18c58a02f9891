//! Unpredictable masks and handshake keys from the operating system's RNG.
//!
//! RFC 6455 requires client masks from a strong source of entropy. One `getrandom` call fills a
//! 256-byte buffer, which masks 64 frames, so masking costs no syscall per frame.

use ws_proto::MaskSource;

/// A [`MaskSource`] backed by the OS RNG.
#[derive(Debug)]
pub struct OsMasks {
    buf: [u8; 256],
    pos: usize,
}

impl Default for OsMasks {
    fn default() -> Self {
        OsMasks {
            buf: [0; 256],
            pos: 256,
        }
    }
}

impl MaskSource for OsMasks {
    fn next_mask(&mut self) -> [u8; 4] {
        if self.pos + 4 > self.buf.len() {
            fill(&mut self.buf);
            self.pos = 0;
        }
        let mut mask = [0; 4];
        mask.copy_from_slice(&self.buf[self.pos..self.pos + 4]);
        self.pos += 4;
        mask
    }
}

/// 16 random bytes for `Sec-WebSocket-Key`.
pub fn handshake_key() -> [u8; 16] {
    let mut key = [0; 16];
    fill(&mut key);
    key
}

fn fill(buf: &mut [u8]) {
    // The OS RNG failing is unrecoverable for a client that must mask unpredictably.
    getrandom::fill(buf).expect("the operating system's random number generator failed");
}
