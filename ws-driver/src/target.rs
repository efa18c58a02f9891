//! Where a `ws://` or `wss://` URL points.

use crate::error::Error;

/// The host (without IPv6 brackets), port (80/443 by default) and whether TLS is needed.
pub fn connect_target(uri: &http::Uri) -> Result<(String, u16, bool), Error> {
    let secure = match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("wss") => true,
        Some(s) if s.eq_ignore_ascii_case("ws") => false,
        _ => return Err(Error::Url("scheme must be ws or wss".into())),
    };
    let host = uri
        .host()
        .ok_or_else(|| Error::Url("no host".into()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
    Ok((host, port, secure))
}

/// The rustls client configuration `wss://` uses unless the caller gives one: the ring
/// provider, safe default protocol versions, and the Mozilla roots from webpki-roots.
#[cfg(feature = "rustls")]
pub fn default_tls_config() -> std::sync::Arc<rustls::ClientConfig> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    std::sync::Arc::new(
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

/// The TLS server name for `host`.
#[cfg(feature = "rustls")]
pub fn server_name(host: &str) -> Result<rustls::pki_types::ServerName<'static>, Error> {
    rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| Error::Tls(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let t = |u: &str| connect_target(&u.parse().unwrap()).unwrap();
        assert_eq!(t("ws://a/"), ("a".into(), 80, false));
        assert_eq!(t("wss://a/"), ("a".into(), 443, true));
        assert_eq!(t("WSS://[::1]:9001/x"), ("::1".into(), 9001, true));
        assert!(connect_target(&"http://a/".parse().unwrap()).is_err());
    }
}
