//! Arbitrary bytes into the frame header decoder; what decodes must re-encode (in the minimal
//! length form) to a header that decodes the same.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ws_proto::frame::{FrameHeader, MAX_HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((header, len))) = FrameHeader::parse(data) {
        assert!(len <= data.len() && len <= MAX_HEADER_LEN);
        let mut encoded = Vec::new();
        header.encode(&mut encoded);
        assert_eq!(encoded.len(), header.encoded_len());
        assert!(encoded.len() <= len, "minimal form is never longer");
        assert_eq!(FrameHeader::parse(&encoded), Ok(Some((header, encoded.len()))));
    }
});
