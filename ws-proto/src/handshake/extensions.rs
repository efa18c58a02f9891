//! `Sec-WebSocket-Extensions` (RFC 6455 section 9.1): parsing, formatting, and the hook through
//! which an extension (permessage-deflate) takes part in the handshake.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use http::HeaderMap;

/// One extension parameter: `name` or `name=value`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ExtensionParam {
    /// The parameter's name.
    pub name: String,
    /// Its value, unquoted, if it has one.
    pub value: Option<String>,
}

/// One element of a `Sec-WebSocket-Extensions` list: an extension and its parameters, as offered
/// by a client or accepted by a server.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Extension {
    /// The extension's name, e.g. `permessage-deflate`.
    pub name: String,
    /// Its parameters in order (duplicates are kept for the extension to judge).
    pub params: Vec<ExtensionParam>,
}

/// A `Sec-WebSocket-Extensions` value that does not follow the grammar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseExtensionError;

impl fmt::Display for ParseExtensionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("malformed Sec-WebSocket-Extensions header")
    }
}

impl std::error::Error for ParseExtensionError {}

fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

fn token(s: &str) -> Result<String, ParseExtensionError> {
    let s = s.trim_matches([' ', '\t']);
    if !s.is_empty() && s.chars().all(is_tchar) {
        Ok(String::from(s))
    } else {
        Err(ParseExtensionError)
    }
}

/// Splits `s` at `sep` outside double quotes.
fn split_outside_quotes(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn param(s: &str) -> Result<ExtensionParam, ParseExtensionError> {
    let Some((name, value)) = s.split_once('=') else {
        return Ok(ExtensionParam {
            name: token(s)?,
            value: None,
        });
    };
    let value = value.trim_matches([' ', '\t']);
    let value = match value.strip_prefix('"') {
        // A quoted value must still be a token once unescaped (RFC 6455 section 9.1).
        Some(rest) => {
            let inner = rest.strip_suffix('"').ok_or(ParseExtensionError)?;
            let mut unescaped = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                unescaped.push(if c == '\\' {
                    chars.next().ok_or(ParseExtensionError)?
                } else {
                    c
                });
            }
            token(&unescaped)?
        }
        None => token(value)?,
    };
    Ok(ExtensionParam {
        name: token(name)?,
        value: Some(value),
    })
}

impl Extension {
    /// An extension without parameters.
    pub fn new(name: impl Into<String>) -> Self {
        Extension {
            name: name.into(),
            params: Vec::new(),
        }
    }

    /// Adds a parameter (builder style).
    pub fn with_param(mut self, name: impl Into<String>, value: Option<&str>) -> Self {
        self.params.push(ExtensionParam {
            name: name.into(),
            value: value.map(String::from),
        });
        self
    }

    /// The first parameter called `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<&ExtensionParam> {
        self.params
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// Parses one header value: a comma-separated list of extensions.
    pub fn parse_list(value: &str) -> Result<Vec<Extension>, ParseExtensionError> {
        split_outside_quotes(value, ',')
            .into_iter()
            // Empty list elements are allowed by the `#rule` (RFC 7230 section 7).
            .filter(|element| !element.trim().is_empty())
            .map(|element| {
                let mut parts = split_outside_quotes(element, ';').into_iter();
                let name = token(parts.next().unwrap_or_default())?;
                let params = parts.map(param).collect::<Result<_, _>>()?;
                Ok(Extension { name, params })
            })
            .collect()
    }

    /// Parses every `Sec-WebSocket-Extensions` header of `headers`, in order.
    pub fn parse_headers(headers: &HeaderMap) -> Result<Vec<Extension>, ParseExtensionError> {
        let mut all = Vec::new();
        for value in headers.get_all(http::header::SEC_WEBSOCKET_EXTENSIONS) {
            let value = value.to_str().map_err(|_| ParseExtensionError)?;
            all.extend(Extension::parse_list(value)?);
        }
        Ok(all)
    }

    /// Formats a list for a header value.
    pub fn format_list(extensions: &[Extension]) -> String {
        use core::fmt::Write as _;
        let mut out = String::new();
        for (i, e) in extensions.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "{e}");
        }
        out
    }
}

impl fmt::Display for Extension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        for p in &self.params {
            match &p.value {
                Some(v) => write!(f, "; {}={}", p.name, v)?,
                None => write!(f, "; {}", p.name)?,
            }
        }
        Ok(())
    }
}

/// How an extension takes part in the opening handshake. One negotiator per extension kind;
/// permessage-deflate implements it.
///
/// A server gives each negotiator the client's offers of its extension (in the client's order of
/// preference) and sends back what it returns. A client sends each negotiator's offers and lets
/// it check the server's answer. What was agreed is reported by the handshake.
///
/// The agreement is reported, not applied: the `Connection` keeps the reserved bits reserved, so
/// only extensions that leave framing alone can be agreed through this hook. permessage-deflate
/// does not go through it: it is built in ([`Config::deflate`](crate::Config::deflate)), because
/// it changes how the connection reads and writes payloads.
pub trait ExtensionNegotiator: Send {
    /// The extension name this negotiator handles (compared case-insensitively).
    fn name(&self) -> &str;

    /// Client: the offers to send, in order of preference.
    fn client_offers(&self) -> Vec<Extension>;

    /// Client: the server accepted this extension with `response`'s parameters. An `Err` (with
    /// the reason) fails the handshake.
    fn client_accept(&mut self, response: &Extension) -> Result<(), String>;

    /// Server: the client offered this extension as `offers`. Return the parameters to accept
    /// (normally from the first acceptable offer), `None` to decline, or `Err` (with the reason)
    /// for malformed offers, which fails the handshake with 400.
    fn server_accept(&mut self, offers: &[Extension]) -> Result<Option<Extension>, String>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn parses_lists_params_and_quoted_values() {
        let list = Extension::parse_list(
            "permessage-deflate; client_max_window_bits, permessage-deflate; server_max_window_bits=\"10\" ,x-foo",
        )
        .unwrap();
        assert_eq!(
            list,
            vec![
                Extension::new("permessage-deflate").with_param("client_max_window_bits", None),
                Extension::new("permessage-deflate")
                    .with_param("server_max_window_bits", Some("10")),
                Extension::new("x-foo"),
            ]
        );
        assert_eq!(
            Extension::format_list(&list),
            "permessage-deflate; client_max_window_bits, permessage-deflate; server_max_window_bits=10, x-foo"
        );
    }

    #[test]
    fn rejects_malformed_values() {
        for bad in ["a; =1", "a b", "a; b=\"1", "a; b=\"x y\"", "; b", "a; b=,"] {
            assert_eq!(
                Extension::parse_list(bad),
                Err(ParseExtensionError),
                "{bad}"
            );
        }
    }
}
