//! The client side of the opening handshake.

use super::head::{write_headers, HeadBuffer};
use super::{accept_key, has_token, tokens, Extension, ExtensionNegotiator, HandshakeError};
use crate::mask::MaskSource;
use crate::{Config, Connection, Instant};
use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use base64::Engine as _;
use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode, Version};

/// What the client handshake asks its driver to do, in order.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientAction {
    /// `n` bytes were appended to the buffer passed to `poll`; write them.
    Transmit(usize),
    /// Close the socket: the handshake failed.
    CloseSocket,
    /// The server accepted: drive the connection from now on.
    Open(Box<ClientUpgrade>),
    /// The handshake failed (the socket was closed first). A refusal carries the server's
    /// response in [`HandshakeError::Rejected`].
    Failed(HandshakeError),
}

/// A successful upgrade: the open connection and what the server agreed to.
#[derive(Debug)]
pub struct ClientUpgrade {
    /// The connection, Open, already fed any bytes the server sent after its 101 response.
    pub connection: Connection,
    /// The server's 101 response (status and headers).
    pub response: Response<()>,
    /// The subprotocol the server chose, if any.
    pub subprotocol: Option<String>,
    /// The extensions the server accepted.
    pub extensions: Vec<Extension>,
}

#[derive(Debug)]
enum Phase {
    /// Waiting for the response head until `deadline`.
    AwaitingResponse {
        deadline: Instant,
    },
    /// A refusal: reading its body (bounded) until `deadline` or EOF.
    ReadingRefusal {
        deadline: Instant,
        status: StatusCode,
        headers: http::HeaderMap,
        head_len: usize,
        framing: BodyFraming,
    },
    Done,
}

/// How a refusal's body ends (RFC 7230 section 3.3.3).
#[derive(Clone, Copy, Debug)]
enum BodyFraming {
    Length(usize),
    Chunked,
    UntilEof,
}

#[derive(Debug)]
enum Output {
    Bytes(Vec<u8>),
    CloseSocket,
    Open(Box<ClientUpgrade>),
    Failed(HandshakeError),
}

/// The client side of the opening handshake: sends the upgrade request, validates the response
/// against RFC 6455 section 4.2.2, and hands over an open [`Connection`].
///
/// ```
/// use ws_proto::handshake::{ClientAction, ClientHandshake};
/// use ws_proto::{Config, FixedMask, Instant};
///
/// let request = ClientHandshake::request("ws://example.com/chat?room=1").unwrap();
/// let key = *b"the sample nonce"; // use 16 random bytes
/// let mut hs = ClientHandshake::new(Instant::ZERO, request, key, Config::default(), FixedMask([1, 2, 3, 4])).unwrap();
/// let mut out = Vec::new();
/// assert!(matches!(hs.poll(&mut out), Some(ClientAction::Transmit(_))));
/// assert!(out.starts_with(b"GET /chat?room=1 HTTP/1.1\r\n"));
/// hs.handle_read(Instant::ZERO, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
///     Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
/// let Some(ClientAction::Open(upgrade)) = hs.poll(&mut out) else { panic!() };
/// assert_eq!(upgrade.connection.state(), ws_proto::State::Open);
/// ```
pub struct ClientHandshake {
    config: Config,
    head: HeadBuffer,
    phase: Phase,
    out: VecDeque<Output>,
    key: String,
    subprotocols: Vec<String>,
    negotiators: Vec<Box<dyn ExtensionNegotiator>>,
    masks: Option<Box<dyn MaskSource + Send>>,
}

impl core::fmt::Debug for ClientHandshake {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ClientHandshake")
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}

impl ClientHandshake {
    /// A GET request for a `ws://` or `wss://` URI, to add headers to (`Origin`, cookies,
    /// `Sec-WebSocket-Protocol` with the subprotocols to offer) before [`ClientHandshake::new`].
    pub fn request(uri: &str) -> Result<Request<()>, HandshakeError> {
        if uri.contains('#') {
            // RFC 6455 section 3: fragment identifiers are meaningless in WebSocket URIs.
            return Err(HandshakeError::InvalidUri(
                "fragment identifiers are not allowed",
            ));
        }
        let uri: http::Uri = uri
            .parse()
            .map_err(|_| HandshakeError::InvalidUri("cannot parse"))?;
        Request::get(uri)
            .body(())
            .map_err(|_| HandshakeError::InvalidUri("cannot build a request"))
    }

    /// Starts the handshake at `now`: queues the upgrade request built from `request` (its URI,
    /// headers and any extension offers), with `key` (16 random bytes) as `Sec-WebSocket-Key`.
    /// `masks` will mask the connection's frames.
    pub fn new(
        now: Instant,
        request: Request<()>,
        key: [u8; 16],
        config: Config,
        masks: impl MaskSource + Send + 'static,
    ) -> Result<Self, HandshakeError> {
        Self::with_extensions(now, request, key, config, masks, Vec::new())
    }

    /// [`new`](Self::new), offering the extensions of `negotiators`.
    pub fn with_extensions(
        now: Instant,
        request: Request<()>,
        key: [u8; 16],
        config: Config,
        masks: impl MaskSource + Send + 'static,
        negotiators: Vec<Box<dyn ExtensionNegotiator>>,
    ) -> Result<Self, HandshakeError> {
        let key = base64::engine::general_purpose::STANDARD.encode(key);
        #[allow(unused_mut)]
        let mut offers: Vec<Extension> = Vec::new();
        #[cfg(feature = "deflate")]
        if let Some(deflate) = &config.deflate {
            offers.push(crate::deflate::client_offer(deflate));
        }
        offers.extend(negotiators.iter().flat_map(|n| n.client_offers()));
        let bytes = request_bytes(&request, &key, &offers)?;
        let mut out = VecDeque::new();
        out.push_back(Output::Bytes(bytes));
        Ok(ClientHandshake {
            head: HeadBuffer::new(config.max_handshake_size, config.max_handshake_headers),
            phase: Phase::AwaitingResponse {
                deadline: now + config.handshake_timeout,
            },
            config,
            out,
            key,
            subprotocols: tokens(request.headers(), "sec-websocket-protocol"),
            negotiators,
            masks: Some(Box::new(masks)),
        })
    }

    /// Bytes read from the socket.
    pub fn handle_read(&mut self, now: Instant, data: &[u8]) {
        match self.phase {
            Phase::AwaitingResponse { .. } => {
                if self.head.push(data) {
                    self.try_parse(now);
                } else if self.head.bytes().len() > self.config.max_handshake_size {
                    self.fail(HandshakeError::HeadTooLarge);
                }
            }
            Phase::ReadingRefusal { .. } => {
                self.head.push(data);
                self.check_refusal_complete(false);
            }
            Phase::Done => {}
        }
    }

    /// The server closed its side.
    pub fn handle_eof(&mut self, _now: Instant) {
        match self.phase {
            Phase::AwaitingResponse { .. } => self.fail(HandshakeError::UnexpectedEof),
            Phase::ReadingRefusal { .. } => self.check_refusal_complete(true),
            Phase::Done => {}
        }
    }

    /// Fires the handshake timeout if it is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.phase {
            Phase::AwaitingResponse { deadline } if now >= deadline => {
                self.fail(HandshakeError::Timeout)
            }
            Phase::ReadingRefusal { deadline, .. } if now >= deadline => {
                self.check_refusal_complete(true)
            }
            _ => {}
        }
    }

    /// The next action, appending any bytes to transmit to `buf`. Call until it returns `None`.
    pub fn poll(&mut self, buf: &mut Vec<u8>) -> Option<ClientAction> {
        Some(match self.out.pop_front()? {
            Output::Bytes(bytes) => {
                buf.extend_from_slice(&bytes);
                ClientAction::Transmit(bytes.len())
            }
            Output::CloseSocket => ClientAction::CloseSocket,
            Output::Open(upgrade) => ClientAction::Open(upgrade),
            Output::Failed(error) => ClientAction::Failed(error),
        })
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::AwaitingResponse { deadline } | Phase::ReadingRefusal { deadline, .. } => {
                Some(deadline)
            }
            Phase::Done => None,
        }
    }

    fn fail(&mut self, error: HandshakeError) {
        self.phase = Phase::Done;
        self.out.push_back(Output::CloseSocket);
        self.out.push_back(Output::Failed(error));
    }

    fn try_parse(&mut self, now: Instant) {
        let head = match self.head.parse_response() {
            Ok(Some(head)) => head,
            Ok(None) => return,
            Err(e) => return self.fail(e),
        };
        if head.start.is_informational() && head.start != StatusCode::SWITCHING_PROTOCOLS {
            // 100 Continue and the like: interim, the final response follows (RFC 7231 6.2).
            self.head.consume(head.len);
            return self.try_parse(now);
        }
        if head.start != StatusCode::SWITCHING_PROTOCOLS {
            let chunked = has_token(&head.headers, "transfer-encoding", "chunked");
            let length = head
                .headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<usize>().ok());
            let framing = if matches!(head.start.as_u16(), 204 | 304) {
                BodyFraming::Length(0)
            } else if chunked {
                BodyFraming::Chunked
            } else {
                length.map_or(BodyFraming::UntilEof, BodyFraming::Length)
            };
            self.phase = Phase::ReadingRefusal {
                deadline: match self.phase {
                    Phase::AwaitingResponse { deadline } => deadline,
                    _ => now,
                },
                status: head.start,
                headers: head.headers,
                head_len: head.len,
                framing,
            };
            return self.check_refusal_complete(false);
        }
        match self.validate(head.version, &head.headers) {
            Ok(Agreed {
                subprotocol,
                extensions,
                deflate,
            }) => {
                let masks = self
                    .masks
                    .take()
                    .unwrap_or_else(|| Box::new(crate::mask::NoMask));
                let mut connection = Connection::new(
                    crate::Role::Client,
                    now,
                    self.config.clone(),
                    BoxedMasks(masks),
                );
                if let Some(params) = deflate {
                    connection = with_agreed_deflate(connection, params);
                }
                connection.handle_read(now, self.head.after(head.len));
                let mut response = Response::new(());
                *response.status_mut() = head.start;
                *response.version_mut() = head.version;
                *response.headers_mut() = head.headers;
                self.phase = Phase::Done;
                self.out.push_back(Output::Open(Box::new(ClientUpgrade {
                    connection,
                    response,
                    subprotocol,
                    extensions,
                })));
            }
            Err(e) => self.fail(e),
        }
    }

    /// RFC 6455 section 4.2.2 (5): the checks a client makes on a 101 response.
    fn validate(
        &mut self,
        version: Version,
        headers: &http::HeaderMap,
    ) -> Result<Agreed, HandshakeError> {
        if version != Version::HTTP_11 {
            return Err(HandshakeError::InvalidHandshake("HTTP/1.1 is required"));
        }
        if !has_token(headers, "upgrade", "websocket") {
            return Err(HandshakeError::InvalidHandshake(
                "response lacks Upgrade: websocket",
            ));
        }
        if !has_token(headers, "connection", "upgrade") {
            return Err(HandshakeError::InvalidHandshake(
                "response lacks Connection: Upgrade",
            ));
        }
        let expected = accept_key(self.key.as_bytes());
        let accepts: Vec<_> = headers
            .get_all(header::SEC_WEBSOCKET_ACCEPT)
            .iter()
            .collect();
        if accepts.len() != 1 || accepts[0].as_bytes().trim_ascii() != expected.as_bytes() {
            return Err(HandshakeError::InvalidHandshake(
                "Sec-WebSocket-Accept does not match the key",
            ));
        }
        let chosen = tokens(headers, "sec-websocket-protocol");
        let subprotocol = match chosen.as_slice() {
            [] => None,
            [p] if self.subprotocols.contains(p) => Some(p.clone()),
            [p] => return Err(HandshakeError::UnofferedSubprotocol(p.clone())),
            _ => {
                return Err(HandshakeError::InvalidHandshake(
                    "more than one subprotocol chosen",
                ))
            }
        };
        let accepted = Extension::parse_headers(headers)
            .map_err(|_| HandshakeError::InvalidHandshake("malformed Sec-WebSocket-Extensions"))?;
        #[cfg_attr(not(feature = "deflate"), allow(unused_mut))]
        let mut deflate = None;
        for (i, extension) in accepted.iter().enumerate() {
            if accepted[..i]
                .iter()
                .any(|e| e.name.eq_ignore_ascii_case(&extension.name))
            {
                return Err(HandshakeError::Extension(alloc::format!(
                    "{} accepted twice",
                    extension.name
                )));
            }
            #[cfg(feature = "deflate")]
            if let Some(config) = &self.config.deflate {
                if extension
                    .name
                    .eq_ignore_ascii_case(crate::deflate::EXTENSION_NAME)
                {
                    let params = crate::deflate::client_accept(config, extension)
                        .map_err(HandshakeError::Extension)?;
                    deflate = Some(params);
                    continue;
                }
            }
            let negotiator = self
                .negotiators
                .iter_mut()
                .find(|n| n.name().eq_ignore_ascii_case(&extension.name))
                .ok_or_else(|| HandshakeError::UnofferedExtension(extension.name.clone()))?;
            negotiator
                .client_accept(extension)
                .map_err(HandshakeError::Extension)?;
        }
        Ok(Agreed {
            subprotocol,
            extensions: accepted,
            deflate,
        })
    }

    /// A refusal is complete when its body is (by `Content-Length`, the last chunk, or EOF),
    /// or when the body reached the size limit; then it is reported.
    fn check_refusal_complete(&mut self, eof: bool) {
        let Phase::ReadingRefusal {
            status,
            head_len,
            framing,
            ..
        } = &self.phase
        else {
            return;
        };
        let limit = self.config.max_handshake_size;
        let have = self.head.after(*head_len);
        let (body, complete) = match framing {
            BodyFraming::Length(len) => {
                let wanted = (*len).min(limit);
                (&have[..have.len().min(wanted)], have.len() >= wanted)
            }
            BodyFraming::UntilEof => (&have[..have.len().min(limit)], have.len() >= limit),
            BodyFraming::Chunked => {
                let (body, done) = dechunk(have, limit);
                if !eof && !done {
                    return;
                }
                let body = Bytes::from(body);
                return self.report_refusal(*status, body);
            }
        };
        if !eof && !complete {
            return;
        }
        let body = Bytes::copy_from_slice(body);
        self.report_refusal(*status, body);
    }

    fn report_refusal(&mut self, status: StatusCode, body: Bytes) {
        let Phase::ReadingRefusal { headers, .. } =
            core::mem::replace(&mut self.phase, Phase::Done)
        else {
            return;
        };
        let mut response = Response::new(body);
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        self.fail(HandshakeError::Rejected(Box::new(response)));
    }
}

/// Decodes a chunked body as far as it has arrived, up to `limit` bytes. Returns the body and
/// whether it is complete (last chunk seen, limit reached, or malformed: nothing more to wait for).
fn dechunk(mut data: &[u8], limit: usize) -> (Vec<u8>, bool) {
    let mut body = Vec::new();
    loop {
        let (consumed, size) = match httparse::parse_chunk_size(data) {
            Ok(httparse::Status::Complete(found)) => found,
            Ok(httparse::Status::Partial) => return (body, false),
            Err(_) => return (body, true),
        };
        if size == 0 {
            return (body, true);
        }
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        let chunk = &data[consumed..];
        let take = chunk.len().min(size).min(limit - body.len());
        body.extend_from_slice(&chunk[..take]);
        if body.len() >= limit {
            return (body, true);
        }
        if chunk.len() < size.saturating_add(2) {
            return (body, false);
        }
        data = &chunk[size + 2..];
    }
}

/// Lets a boxed mask source be passed where `impl MaskSource` is expected.
struct BoxedMasks(Box<dyn MaskSource + Send>);

impl MaskSource for BoxedMasks {
    fn next_mask(&mut self) -> [u8; 4] {
        self.0.next_mask()
    }
}

/// What a valid 101 response settled.
struct Agreed {
    subprotocol: Option<String>,
    extensions: Vec<Extension>,
    deflate: Option<AgreedDeflate>,
}

/// The permessage-deflate parameters a server accepted; no value can exist without the feature.
#[cfg(feature = "deflate")]
type AgreedDeflate = crate::deflate::DeflateParams;
#[cfg(not(feature = "deflate"))]
type AgreedDeflate = core::convert::Infallible;

#[cfg(feature = "deflate")]
fn with_agreed_deflate(connection: Connection, params: AgreedDeflate) -> Connection {
    connection.with_deflate(params)
}

#[cfg(not(feature = "deflate"))]
fn with_agreed_deflate(_: Connection, params: AgreedDeflate) -> Connection {
    match params {}
}

/// Serializes the upgrade request: request line, Host, the WebSocket headers, the caller's headers.
fn request_bytes(
    request: &Request<()>,
    key: &str,
    offers: &[Extension],
) -> Result<Vec<u8>, HandshakeError> {
    let uri = request.uri();
    match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("ws") || s.eq_ignore_ascii_case("wss") => {}
        _ => return Err(HandshakeError::InvalidUri("scheme must be ws or wss")),
    }
    let authority = uri
        .authority()
        .ok_or(HandshakeError::InvalidUri("no host"))?;
    let host = authority
        .as_str()
        .rsplit_once('@')
        .map_or(authority.as_str(), |(_, host)| host);
    if host.is_empty() {
        return Err(HandshakeError::InvalidUri("no host"));
    }
    let path = match uri.path() {
        "" => "/",
        path => path,
    };
    let query = uri
        .query()
        .map(|q| alloc::format!("?{q}"))
        .unwrap_or_default();

    let mut headers = http::HeaderMap::new();
    let host = match request.headers().get(header::HOST) {
        Some(host) => host.clone(),
        None => HeaderValue::from_str(host).map_err(|_| HandshakeError::InvalidUri("host"))?,
    };
    headers.insert(header::HOST, host);
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    let key = HeaderValue::from_str(key).map_err(|_| HandshakeError::InvalidHeader)?;
    headers.insert(header::SEC_WEBSOCKET_KEY, key);
    headers.insert(
        header::SEC_WEBSOCKET_VERSION,
        HeaderValue::from_static("13"),
    );
    if !offers.is_empty() {
        let value = HeaderValue::from_str(&Extension::format_list(offers))
            .map_err(|_| HandshakeError::InvalidHeader)?;
        headers.insert(header::SEC_WEBSOCKET_EXTENSIONS, value);
    }
    // The caller's headers follow ours; the ones the handshake owns are not repeated.
    for (name, value) in request.headers() {
        let owned = [
            header::HOST,
            header::UPGRADE,
            header::CONNECTION,
            header::SEC_WEBSOCKET_KEY,
            header::SEC_WEBSOCKET_VERSION,
        ];
        if !owned.contains(name) {
            headers.append(name, value.clone());
        }
    }

    let mut out = Vec::new();
    out.extend_from_slice(b"GET ");
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(query.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    write_headers(&headers, &mut out);
    out.extend_from_slice(b"\r\n");
    Ok(out)
}
