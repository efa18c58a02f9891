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
        let mut headers = alloc::vec![httparse::EMPTY_HEADER; self.max_headers];
        let mut req = httparse::Request::new(&mut headers);
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
        let mut headers = alloc::vec![httparse::EMPTY_HEADER; self.max_headers];
        let mut resp = httparse::Response::new(&mut headers);
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
