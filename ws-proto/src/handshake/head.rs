//! Reading an HTTP/1.1 head that arrives in pieces, and writing one.

use super::HandshakeError;
use alloc::vec::Vec;
use http::{HeaderMap, HeaderName, HeaderValue, Version};

/// Collects bytes until the HTTP head is complete, within the size and header-count limits.
///
/// Parsing is retried only when a new line ends, so a peer trickling one byte at a time costs
/// one parse per header line, not one per byte; and the number of lines is bounded by
/// `max_headers` (httparse fails past it). Empty lines before the start line, which RFC 7230
/// section 3.5 says to ignore, are dropped as they arrive (still counting toward the size limit),
/// so they cannot be used to force a reparse per byte.
#[derive(Debug)]
pub(crate) struct HeadBuffer {
    buf: Vec<u8>,
    /// Empty-line bytes dropped before the start line.
    skipped: usize,
    max_size: usize,
    max_headers: usize,
}

/// A parsed head: method or status, target, version and headers; and where it ended.
pub(crate) struct Head<T> {
    pub(crate) start: T,
    pub(crate) version: Version,
    pub(crate) headers: HeaderMap,
    /// Bytes of the head, including the blank line.
    pub(crate) len: usize,
}

/// A request line: method and target.
pub(crate) struct RequestLine {
    pub(crate) method: Vec<u8>,
    pub(crate) target: Vec<u8>,
}

impl HeadBuffer {
    pub(crate) fn new(max_size: usize, max_headers: usize) -> Self {
        HeadBuffer {
            buf: Vec::new(),
            skipped: 0,
            max_size,
            max_headers: max_headers.max(1),
        }
    }

    /// Appends bytes; returns whether a line ended among them (worth trying to parse).
    pub(crate) fn push(&mut self, mut data: &[u8]) -> bool {
        if self.buf.is_empty() {
            let blank = data
                .iter()
                .take_while(|b| matches!(b, b'\r' | b'\n'))
                .count();
            self.skipped += blank;
            data = &data[blank..];
        }
        self.buf.extend_from_slice(data);
        data.contains(&b'\n')
    }

    /// All bytes received, head and beyond.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Bytes received past the end of a head of `len` bytes.
    pub(crate) fn after(&self, len: usize) -> &[u8] {
        self.buf.get(len..).unwrap_or_default()
    }

    /// Drops the first `len` bytes (an interim 1xx response).
    pub(crate) fn consume(&mut self, len: usize) {
        self.buf.drain(..len.min(self.buf.len()));
    }

    /// Bytes received so far, dropped empty lines included.
    pub(crate) fn received(&self) -> usize {
        self.skipped + self.buf.len()
    }

    fn check_size(&self, complete_len: Option<usize>) -> Result<(), HandshakeError> {
        let len = self.skipped + complete_len.unwrap_or(self.buf.len());
        if len > self.max_size {
            Err(HandshakeError::HeadTooLarge)
        } else {
            Ok(())
        }
    }

    pub(crate) fn parse_request(&self) -> Result<Option<Head<RequestLine>>, HandshakeError> {
        with_header_slots(self.max_headers, |headers| self.parse_request_into(headers))
    }

    fn parse_request_into<'b>(
        &'b self,
        headers: &mut [httparse::Header<'b>],
    ) -> Result<Option<Head<RequestLine>>, HandshakeError> {
        let mut req = httparse::Request::new(headers);
        match req.parse(&self.buf) {
            Ok(httparse::Status::Partial) => self.check_size(None).map(|_| None),
            Ok(httparse::Status::Complete(len)) => {
                self.check_size(Some(len))?;
                Ok(Some(Head {
                    start: RequestLine {
                        method: req.method.unwrap_or_default().as_bytes().to_vec(),
                        target: req.path.unwrap_or_default().as_bytes().to_vec(),
                    },
                    version: version(req.version),
                    headers: header_map(req.headers)?,
                    len,
                }))
            }
            Err(e) => Err(http_error(e)),
        }
    }

    pub(crate) fn parse_response(&self) -> Result<Option<Head<http::StatusCode>>, HandshakeError> {
        with_header_slots(self.max_headers, |headers| {
            self.parse_response_into(headers)
        })
    }

    fn parse_response_into<'b>(
        &'b self,
        headers: &mut [httparse::Header<'b>],
    ) -> Result<Option<Head<http::StatusCode>>, HandshakeError> {
        let mut resp = httparse::Response::new(headers);
        match resp.parse(&self.buf) {
            Ok(httparse::Status::Partial) => self.check_size(None).map(|_| None),
            Ok(httparse::Status::Complete(len)) => {
                self.check_size(Some(len))?;
                let status = http::StatusCode::from_u16(resp.code.unwrap_or(0))
                    .map_err(|_| HandshakeError::MalformedHttp("invalid status code"))?;
                Ok(Some(Head {
                    start: status,
                    version: version(resp.version),
                    headers: header_map(resp.headers)?,
                    len,
                }))
            }
            Err(e) => Err(http_error(e)),
        }
    }
}

/// Header slots kept on the stack: up to the default `max_handshake_headers`.
const STACK_HEADER_SLOTS: usize = 100;

/// Runs `parse` with `count` empty header slots for httparse: on the stack up to
/// [`STACK_HEADER_SLOTS`], so that a handshake under the default limit allocates none (3.2 KB
/// per parse, freed at once: in a server accepting many connections, a hole in the heap among
/// the connections' long-lived allocations), from the heap beyond.
fn with_header_slots<'b, T>(
    count: usize,
    parse: impl FnOnce(&mut [httparse::Header<'b>]) -> T,
) -> T {
    if count <= STACK_HEADER_SLOTS {
        let mut slots = [httparse::EMPTY_HEADER; STACK_HEADER_SLOTS];
        parse(&mut slots[..count])
    } else {
        parse(&mut alloc::vec![httparse::EMPTY_HEADER; count])
    }
}

fn version(minor: Option<u8>) -> Version {
    match minor {
        Some(1) => Version::HTTP_11,
        _ => Version::HTTP_10,
    }
}

fn header_map(headers: &[httparse::Header<'_>]) -> Result<HeaderMap, HandshakeError> {
    let mut map = HeaderMap::with_capacity(headers.len());
    for h in headers {
        let name =
            HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| HandshakeError::InvalidHeader)?;
        let value = HeaderValue::from_bytes(h.value).map_err(|_| HandshakeError::InvalidHeader)?;
        map.append(name, value);
    }
    Ok(map)
}

fn http_error(e: httparse::Error) -> HandshakeError {
    match e {
        httparse::Error::TooManyHeaders => HandshakeError::TooManyHeaders,
        httparse::Error::HeaderName => HandshakeError::MalformedHttp("invalid header name"),
        httparse::Error::HeaderValue => HandshakeError::MalformedHttp("invalid header value"),
        httparse::Error::NewLine => HandshakeError::MalformedHttp("invalid line ending"),
        httparse::Error::Status => HandshakeError::MalformedHttp("invalid status line"),
        httparse::Error::Token => HandshakeError::MalformedHttp("invalid token"),
        httparse::Error::Version => HandshakeError::MalformedHttp("invalid HTTP version"),
    }
}

/// Appends header lines (`Name: value\r\n`) for every header.
pub(crate) fn write_headers(headers: &HeaderMap, out: &mut Vec<u8>) {
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

/// Serializes a response head and body.
pub(crate) fn write_response(
    status: http::StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    out: &mut Vec<u8>,
) {
    // Sized in one allocation: grown push by push, a 101 response went through five
    // reallocations, each leaving a small hole in the heap of a server accepting many
    // connections.
    let reason = status.canonical_reason().unwrap_or("");
    let header_bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    out.reserve_exact("HTTP/1.1 000 \r\n\r\n".len() + reason.len() + header_bytes + body.len());
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\n");
    write_headers(headers, out);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;
    use http::{header, HeaderValue, StatusCode};

    fn head_with(kind: &str, headers: usize) -> Vec<u8> {
        let mut head = alloc::format!("{kind}\r\n").into_bytes();
        for i in 0..headers {
            head.extend_from_slice(alloc::format!("x-h{i}: {i}\r\n").as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        head
    }

    /// The header limit holds exactly, under and over the slots kept on the stack.
    #[test]
    fn heads_with_up_to_max_headers_parse_and_one_more_is_refused() {
        for max in [
            1,
            3,
            STACK_HEADER_SLOTS - 1,
            STACK_HEADER_SLOTS,
            STACK_HEADER_SLOTS + 1,
            150,
        ] {
            for (n, ok) in [(max, true), (max + 1, false)] {
                let mut request = HeadBuffer::new(1 << 20, max);
                request.push(&head_with("GET / HTTP/1.1", n));
                let mut response = HeadBuffer::new(1 << 20, max);
                response.push(&head_with("HTTP/1.1 101 Switching Protocols", n));
                match (request.parse_request(), ok) {
                    (Ok(Some(head)), true) => assert_eq!(head.headers.len(), n, "max {max}"),
                    (Err(HandshakeError::TooManyHeaders), false) => {}
                    (other, _) => panic!(
                        "request, max {max}, {n} headers: {:?}",
                        other.map(|h| h.is_some())
                    ),
                }
                match (response.parse_response(), ok) {
                    (Ok(Some(head)), true) => assert_eq!(head.headers.len(), n, "max {max}"),
                    (Err(HandshakeError::TooManyHeaders), false) => {}
                    (other, _) => panic!(
                        "response, max {max}, {n} headers: {:?}",
                        other.map(|h| h.is_some())
                    ),
                }
            }
        }
    }

    #[test]
    fn a_response_is_written_into_one_allocation_of_its_exact_size() {
        let mut headers = HeaderMap::new();
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.append(header::SET_COOKIE, HeaderValue::from_static("a=1"));
        headers.append(header::SET_COOKIE, HeaderValue::from_static("b=2"));
        for (status, body) in [
            (StatusCode::SWITCHING_PROTOCOLS, &b""[..]),
            (StatusCode::FORBIDDEN, &b"no\n"[..]),
            (StatusCode::from_u16(599).unwrap(), &b"unnamed status"[..]),
        ] {
            let mut out = Vec::new();
            write_response(status, &headers, body, &mut out);
            assert_eq!(out.len(), out.capacity(), "{status}");
            let text = String::from_utf8(out).unwrap();
            assert!(text.starts_with(&alloc::format!("HTTP/1.1 {} ", status.as_str())));
            assert!(text.contains("set-cookie: a=1\r\nset-cookie: b=2\r\n"));
            assert!(text.ends_with(&alloc::format!(
                "\r\n\r\n{}",
                core::str::from_utf8(body).unwrap()
            )));
        }
    }
}
