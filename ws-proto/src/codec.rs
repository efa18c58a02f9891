//! The payload codec an extension plugs into the connection: permessage-deflate with the
//! `deflate` feature. Without the feature these types have no values, so the connection's
//! compression paths compile to nothing.

#[cfg(feature = "deflate")]
pub(crate) use crate::deflate::{Deflater, InflateError, Inflater};

#[cfg(not(feature = "deflate"))]
pub(crate) use off::{Deflater, InflateError, Inflater};

#[cfg(not(feature = "deflate"))]
mod off {
    use crate::event::Compression;
    use alloc::vec::Vec;

    /// No compressor can exist without the `deflate` feature.
    #[derive(Debug)]
    pub(crate) enum Deflater {}

    /// No inflater can exist without the `deflate` feature.
    #[derive(Debug)]
    pub(crate) enum Inflater {}

    #[derive(Debug)]
    #[allow(dead_code)]
    pub(crate) enum InflateError {
        TooLarge,
        Corrupt,
    }

    #[derive(Debug)]
    pub(crate) struct CompressFailed;

    impl Deflater {
        pub(crate) fn wants(&self, _: usize, _: Compression) -> bool {
            match *self {}
        }
        pub(crate) fn compress(&mut self, _: &[u8], _: bool) -> Result<&[u8], CompressFailed> {
            match *self {}
        }
        pub(crate) fn message_sent(&mut self) {
            match *self {}
        }
    }

    impl Inflater {
        pub(crate) fn inflate(
            &mut self,
            _: &[u8],
            _: &mut Vec<u8>,
            _: usize,
        ) -> Result<usize, InflateError> {
            match *self {}
        }
        pub(crate) fn finish_message(
            &mut self,
            _: &mut Vec<u8>,
            _: usize,
        ) -> Result<usize, InflateError> {
            match *self {}
        }
    }
}
