//! The server side of the opening handshake.

use super::head::{write_response, HeadBuffer, RequestLine};
use super::{accept_key, has_token, tokens, Extension, ExtensionNegotiator, HandshakeError};
use crate::{Config, Connection, Instant};
use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use base64::Engine as _;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode, Version};

/// What the server handshake asks its driver to do, in order.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServerAction {
    /// `n` bytes were appended to the buffer passed to `poll`; write them.
    Transmit(usize),
    /// Flush, then shut down the write side.
    ShutdownWrite,
    /// Close the socket: the handshake is over without an upgrade.
    CloseSocket,
    /// A request arrived: answer it with [`ServerHandshake::accept`] or
    /// [`ServerHandshake::reject`]. [`ServerHandshake::is_upgrade_request`] tells whether it asks
    /// for a WebSocket upgrade or is plain HTTP (for instance a health or stats endpoint).
    Request(Box<Request<()>>),
    /// The request was invalid, too large, too slow, or the client went away. Any error response
    /// was sent and the socket closed before this.
    Failed(HandshakeError),
}

/// The application's decision to upgrade, with the optional parts of the 101 response.
#[derive(Clone, Debug, Default)]
pub struct Accept {
    /// The subprotocol to use; it must be one the client offered in `Sec-WebSocket-Protocol`.
    pub subprotocol: Option<String>,
    /// Extra headers for the 101 response (cookies, for instance). The handshake's own headers
    /// (`Upgrade`, `Connection`, `Sec-WebSocket-*`) are not copied; a `Sec-WebSocket-Protocol`
    /// here is taken as the subprotocol choice when `subprotocol` is `None`.
    pub headers: HeaderMap,
}

/// An accepted upgrade: the open connection and what was agreed.
#[derive(Debug)]
pub struct ServerUpgrade {
    /// The connection, Open, with the 101 response queued as its first output and any bytes the
    /// client sent after its request already fed to it.
    pub connection: Connection,
    /// The chosen subprotocol.
    pub subprotocol: Option<String>,
    /// The extensions agreed, as sent in the response.
    pub extensions: Vec<Extension>,
}

/// A request waiting for the application's decision.
#[derive(Debug)]
struct Pending {
    /// `Some` for a valid WebSocket upgrade: its key, offered subprotocols and extensions.
    upgrade: Option<UpgradeRequest>,
    head_len: usize,
    peer_eof: bool,
}

#[derive(Debug)]
struct UpgradeRequest {
    key: String,
    subprotocols: Vec<String>,
    extensions: Vec<Extension>,
}

#[derive(Debug)]
enum Phase {
    /// Reading the request head until `deadline`.
    Reading { deadline: Instant },
    /// The request was handed to the application.
    Deciding(Pending),
    /// Answered (rejected or failed: the socket is closing; accepted: the connection took over).
    Done,
}

#[derive(Debug)]
enum Output {
    Bytes(Vec<u8>),
    ShutdownWrite,
    CloseSocket,
    Request(Box<Request<()>>),
    Failed(HandshakeError),
}

/// The server side of the opening handshake: reads the request, validates it against RFC 6455
/// section 4.2.1, lets the application decide, and answers.
///
/// Invalid requests get a proper HTTP error response (400, 405, 426 with
/// `Sec-WebSocket-Version: 13`, 431, or 408 at the handshake timeout) before the socket is closed.
///
/// ```
/// use ws_proto::handshake::{Accept, ServerAction, ServerHandshake};
/// use ws_proto::{Config, Instant};
///
/// let mut hs = ServerHandshake::new(Instant::ZERO, Config::default());
/// hs.handle_read(Instant::ZERO, b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
///     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
/// let mut out = Vec::new();
/// let Some(ServerAction::Request(request)) = hs.poll(&mut out) else { panic!() };
/// assert_eq!(request.uri().path(), "/chat");
/// let upgrade = hs.accept(Instant::ZERO, Accept::default()).unwrap();
/// let mut conn = upgrade.connection;
/// conn.poll(&mut out); // the 101 response
/// assert!(out.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
/// ```
pub struct ServerHandshake {
    config: Config,
    head: HeadBuffer,
    phase: Phase,
    out: VecDeque<Output>,
    negotiators: Vec<Box<dyn ExtensionNegotiator>>,
}

impl core::fmt::Debug for ServerHandshake {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ServerHandshake")
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}

impl ServerHandshake {
    /// Starts reading a request at `now`; the handshake timeout runs from here.
    pub fn new(now: Instant, config: Config) -> Self {
        ServerHandshake {
            head: HeadBuffer::new(config.max_handshake_size, config.max_handshake_headers),
            phase: Phase::Reading {
                deadline: now + config.handshake_timeout,
            },
            config,
            out: VecDeque::new(),
            negotiators: Vec::new(),
        }
    }

    /// Adds an extension this server can negotiate (builder style).
    pub fn with_extension(mut self, negotiator: impl ExtensionNegotiator + 'static) -> Self {
        self.negotiators.push(Box::new(negotiator));
        self
    }

    /// Bytes read from the socket.
    pub fn handle_read(&mut self, now: Instant, data: &[u8]) {
        match &mut self.phase {
            Phase::Reading { .. } => {
                if self.head.push(data) {
                    self.try_parse(now);
                } else if self.head.received() > self.config.max_handshake_size {
                    self.fail(HandshakeError::HeadTooLarge);
                }
            }
            Phase::Deciding(pending) => {
                // A client may pipeline frames after its request; keep them for the connection,
                // within the head-size budget (a client should wait for the 101 before sending).
                if self.head.bytes().len() - pending.head_len + data.len()
                    > self.config.max_handshake_size
                {
                    self.fail(HandshakeError::InvalidHandshake(
                        "too much data before the handshake completed",
                    ));
                } else {
                    self.head.push(data);
                }
            }
            Phase::Done => {}
        }
    }

    /// The client closed its side.
    pub fn handle_eof(&mut self, _now: Instant) {
        match &mut self.phase {
            Phase::Reading { .. } => {
                self.out.push_back(Output::CloseSocket);
                self.out
                    .push_back(Output::Failed(HandshakeError::UnexpectedEof));
                self.phase = Phase::Done;
            }
            // The answer can still be written; the connection will see the EOF.
            Phase::Deciding(pending) => pending.peer_eof = true,
            Phase::Done => {}
        }
    }

    /// Fires the handshake timeout if it is due: 408 Request Timeout, then close.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Phase::Reading { deadline } = self.phase {
            if now >= deadline {
                self.fail(HandshakeError::Timeout);
            }
        }
    }

    /// Whether the pending request asks for a WebSocket upgrade (as opposed to plain HTTP).
    pub fn is_upgrade_request(&self) -> bool {
        matches!(
            &self.phase,
            Phase::Deciding(Pending {
                upgrade: Some(_),
                ..
            })
        )
    }

    /// The subprotocols the pending request offered, in order.
    pub fn offered_subprotocols(&self) -> &[String] {
        match &self.phase {
            Phase::Deciding(Pending {
                upgrade: Some(u), ..
            }) => &u.subprotocols,
            _ => &[],
        }
    }

    /// Accepts the pending upgrade: returns the open connection with the 101 response queued
    /// in it. A plain HTTP request is answered 426 Upgrade Required instead (and an error returned).
    pub fn accept(
        &mut self,
        now: Instant,
        accept: Accept,
    ) -> Result<ServerUpgrade, HandshakeError> {
        let Phase::Deciding(pending) = &self.phase else {
            return Err(HandshakeError::NoPendingRequest);
        };
        let Some(upgrade) = &pending.upgrade else {
            self.fail(HandshakeError::InvalidHandshake(
                "not a WebSocket upgrade request",
            ));
            return Err(HandshakeError::InvalidHandshake(
                "not a WebSocket upgrade request",
            ));
        };
        let mut accept = accept;
        // tokio-tungstenite users pick a subprotocol by setting the response header: honour that,
        // with the same check.
        if accept.subprotocol.is_none() {
            accept.subprotocol = accept
                .headers
                .get(header::SEC_WEBSOCKET_PROTOCOL)
                .and_then(|v| v.to_str().ok())
                .map(|v| String::from(v.trim()));
        }
        if let Some(p) = &accept.subprotocol {
            if !upgrade.subprotocols.contains(p) {
                return Err(HandshakeError::SubprotocolNotOffered(p.clone()));
            }
        }
        let mut agreed = Vec::new();
        #[cfg(feature = "deflate")]
        let deflate = match negotiate_deflate(&self.config, &upgrade.extensions) {
            Ok(Some((response, params))) => {
                agreed.push(response);
                Some(params)
            }
            Ok(None) => None,
            Err(why) => {
                self.fail(HandshakeError::Extension(why.clone()));
                return Err(HandshakeError::Extension(why));
            }
        };
        for negotiator in &mut self.negotiators {
            let offers: Vec<Extension> = upgrade
                .extensions
                .iter()
                .filter(|e| e.name.eq_ignore_ascii_case(negotiator.name()))
                .cloned()
                .collect();
            if offers.is_empty() {
                continue;
            }
            match negotiator.server_accept(&offers) {
                Ok(Some(extension)) => agreed.push(extension),
                Ok(None) => {}
                Err(why) => {
                    self.fail(HandshakeError::Extension(why.clone()));
                    return Err(HandshakeError::Extension(why));
                }
            }
        }
        let mut headers = HeaderMap::new();
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        let accept_value = HeaderValue::from_str(&accept_key(upgrade.key.as_bytes()))
            .map_err(|_| HandshakeError::InvalidHeader)?;
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept_value);
        if let Some(p) = &accept.subprotocol {
            let value = HeaderValue::from_str(p).map_err(|_| HandshakeError::InvalidHeader)?;
            headers.insert(header::SEC_WEBSOCKET_PROTOCOL, value);
        }
        if !agreed.is_empty() {
            let value = HeaderValue::from_str(&Extension::format_list(&agreed))
                .map_err(|_| HandshakeError::InvalidHeader)?;
            headers.insert(header::SEC_WEBSOCKET_EXTENSIONS, value);
        }
        // The handshake's own headers are not the application's to repeat or override.
        let owned = [
            header::UPGRADE,
            header::CONNECTION,
            header::SEC_WEBSOCKET_ACCEPT,
            header::SEC_WEBSOCKET_PROTOCOL,
            header::SEC_WEBSOCKET_EXTENSIONS,
            header::CONTENT_LENGTH,
            header::TRANSFER_ENCODING,
        ];
        for (name, value) in &accept.headers {
            if !owned.contains(name) {
                headers.append(name, value.clone());
            }
        }
        let mut response = Vec::new();
        write_response(
            StatusCode::SWITCHING_PROTOCOLS,
            &headers,
            &[],
            &mut response,
        );

        let (head_len, peer_eof) = (pending.head_len, pending.peer_eof);
        let mut connection = Connection::server(now, self.config.clone());
        #[cfg(feature = "deflate")]
        if let Some(params) = deflate {
            connection = connection.with_deflate(params);
        }
        connection.queue_preface(response);
        connection.handle_read(now, self.head.after(head_len));
        if peer_eof {
            connection.handle_eof(now);
        }
        self.phase = Phase::Done;
        Ok(ServerUpgrade {
            connection,
            subprotocol: accept.subprotocol,
            extensions: agreed,
        })
    }

    /// Answers the pending request with `response` (a refusal such as 401 or 403, or a plain
    /// HTTP answer), then closes. `Content-Length` and `Connection: close` are added if missing.
    pub fn reject(&mut self, response: Response<Bytes>) -> Result<(), HandshakeError> {
        if !matches!(self.phase, Phase::Deciding(_)) {
            return Err(HandshakeError::NoPendingRequest);
        }
        let (parts, body) = response.into_parts();
        self.respond(parts.status, parts.headers, &body);
        Ok(())
    }

    /// The next action, appending any bytes to transmit to `buf`. Call until it returns `None`.
    pub fn poll(&mut self, buf: &mut Vec<u8>) -> Option<ServerAction> {
        Some(match self.out.pop_front()? {
            Output::Bytes(bytes) => {
                buf.extend_from_slice(&bytes);
                ServerAction::Transmit(bytes.len())
            }
            Output::ShutdownWrite => ServerAction::ShutdownWrite,
            Output::CloseSocket => ServerAction::CloseSocket,
            Output::Request(request) => ServerAction::Request(request),
            Output::Failed(error) => ServerAction::Failed(error),
        })
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called: the handshake deadline
    /// while the request is being read.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Reading { deadline } => Some(deadline),
            _ => None,
        }
    }

    fn try_parse(&mut self, now: Instant) {
        let _ = now;
        let head = match self.head.parse_request() {
            Ok(Some(head)) => head,
            Ok(None) => return,
            Err(e) => return self.fail(e),
        };
        if self.head.after(head.len).len() > self.config.max_handshake_size {
            return self.fail(HandshakeError::InvalidHandshake(
                "too much data before the handshake completed",
            ));
        }
        let request_line = head.start;
        let method = Method::from_bytes(&request_line.method).unwrap_or(Method::GET);
        let mut builder = Request::builder()
            .method(method.clone())
            .uri(request_line.target.as_slice())
            .version(head.version);
        if let Some(headers) = builder.headers_mut() {
            *headers = head.headers;
        }
        let request = match builder.body(()) {
            Ok(r) => r,
            Err(_) => return self.fail(HandshakeError::MalformedHttp("invalid request target")),
        };
        let upgrade = if has_token(request.headers(), "upgrade", "websocket") {
            match validate_upgrade(&request, &request_line) {
                Ok(u) => Some(u),
                Err(e) => return self.fail(e),
            }
        } else {
            None
        };
        self.phase = Phase::Deciding(Pending {
            upgrade,
            head_len: head.len,
            peer_eof: false,
        });
        self.out.push_back(Output::Request(Box::new(request)));
    }

    /// Answers with the status that fits `error`, closes, and reports the error.
    fn fail(&mut self, error: HandshakeError) {
        let mut headers = HeaderMap::new();
        let status = match &error {
            HandshakeError::Timeout => StatusCode::REQUEST_TIMEOUT,
            HandshakeError::HeadTooLarge | HandshakeError::TooManyHeaders => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            HandshakeError::MethodNotAllowed => {
                headers.insert(header::ALLOW, HeaderValue::from_static("GET"));
                StatusCode::METHOD_NOT_ALLOWED
            }
            HandshakeError::UnsupportedVersion => {
                headers.insert(
                    header::SEC_WEBSOCKET_VERSION,
                    HeaderValue::from_static("13"),
                );
                StatusCode::UPGRADE_REQUIRED
            }
            HandshakeError::InvalidHandshake("not a WebSocket upgrade request") => {
                headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
                headers.insert(
                    header::SEC_WEBSOCKET_VERSION,
                    HeaderValue::from_static("13"),
                );
                StatusCode::UPGRADE_REQUIRED
            }
            _ => StatusCode::BAD_REQUEST,
        };
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        let body = alloc::format!("{error}\n");
        self.respond(status, headers, body.as_bytes());
        self.out.push_back(Output::Failed(error));
    }

    fn respond(&mut self, status: StatusCode, mut headers: HeaderMap, body: &[u8]) {
        if !headers.contains_key(header::CONTENT_LENGTH) {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        }
        if !headers.contains_key(header::CONNECTION) {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        let mut bytes = Vec::new();
        write_response(status, &headers, body, &mut bytes);
        self.out.push_back(Output::Bytes(bytes));
        self.out.push_back(Output::ShutdownWrite);
        self.out.push_back(Output::CloseSocket);
        self.phase = Phase::Done;
    }
}

/// RFC 6455 section 4.2.1, for a request that carries `Upgrade: websocket`.
fn validate_upgrade(
    request: &Request<()>,
    line: &RequestLine,
) -> Result<UpgradeRequest, HandshakeError> {
    let headers = request.headers();
    if line.method != b"GET" {
        return Err(HandshakeError::MethodNotAllowed);
    }
    if request.version() != Version::HTTP_11 {
        return Err(HandshakeError::InvalidHandshake("HTTP/1.1 is required"));
    }
    if headers.get_all(header::HOST).iter().count() != 1 {
        return Err(HandshakeError::InvalidHandshake(
            "exactly one Host header is required",
        ));
    }
    if !has_token(headers, "connection", "upgrade") {
        return Err(HandshakeError::InvalidHandshake(
            "Connection header must include Upgrade",
        ));
    }
    let versions: Vec<_> = headers
        .get_all(header::SEC_WEBSOCKET_VERSION)
        .iter()
        .collect();
    if versions.len() != 1 || versions[0].as_bytes().trim_ascii() != b"13" {
        return Err(HandshakeError::UnsupportedVersion);
    }
    let keys: Vec<_> = headers.get_all(header::SEC_WEBSOCKET_KEY).iter().collect();
    let key = match keys.as_slice() {
        [key] => key.to_str().map(str::trim).unwrap_or_default(),
        _ => {
            return Err(HandshakeError::InvalidHandshake(
                "exactly one Sec-WebSocket-Key is required",
            ))
        }
    };
    let decoded = base64::engine::general_purpose::STANDARD.decode(key);
    if decoded.map(|k| k.len()) != Ok(16) {
        return Err(HandshakeError::InvalidHandshake(
            "Sec-WebSocket-Key must be 16 bytes in base64",
        ));
    }
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes().trim_ascii() != b"0");
    if has_body {
        return Err(HandshakeError::InvalidHandshake(
            "an upgrade request has no body",
        ));
    }
    let extensions = super::Extension::parse_headers(headers)
        .map_err(|_| HandshakeError::InvalidHandshake("malformed Sec-WebSocket-Extensions"))?;
    Ok(UpgradeRequest {
        key: String::from(key),
        subprotocols: tokens(headers, "sec-websocket-protocol"),
        extensions,
    })
}

/// permessage-deflate, when [`Config::deflate`] is on: the response to the client's offers and
/// the agreed parameters.
#[cfg(feature = "deflate")]
fn negotiate_deflate(
    config: &Config,
    offers: &[Extension],
) -> Result<Option<(Extension, crate::deflate::DeflateParams)>, String> {
    match &config.deflate {
        Some(deflate) => crate::deflate::server_negotiate(deflate, offers),
        None => Ok(None),
    }
}
