//! RFC 7692 section 7.1: the permessage-deflate parameters in offers and responses.

use super::{DeflateConfig, DeflateParams, EXTENSION_NAME};
use crate::handshake::Extension;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

const SERVER_NO_CONTEXT_TAKEOVER: &str = "server_no_context_takeover";
const CLIENT_NO_CONTEXT_TAKEOVER: &str = "client_no_context_takeover";
const SERVER_MAX_WINDOW_BITS: &str = "server_max_window_bits";
const CLIENT_MAX_WINDOW_BITS: &str = "client_max_window_bits";

/// The parameters of one offer or response, each checked for syntax and seen at most once.
#[derive(Debug, Default)]
struct Params {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    /// `Some(Some(n))`: present with value `n`; `Some(None)`: present without a value.
    server_max_window_bits: Option<Option<u8>>,
    client_max_window_bits: Option<Option<u8>>,
}

/// A window size parameter's value: 1*DIGIT in 8..=15 (RFC 7692 section 7.1.2).
fn window_bits(value: &str) -> Result<u8, String> {
    if value.is_empty() || value.len() > 2 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("invalid window bits {value:?}"));
    }
    match value.parse::<u8>() {
        Ok(bits @ 8..=15) => Ok(bits),
        _ => Err(format!("window bits {value} outside 8..15")),
    }
}

impl Params {
    fn parse(extension: &Extension) -> Result<Params, String> {
        let mut params = Params::default();
        let mut seen: Vec<&str> = Vec::new();
        for param in &extension.params {
            let name = param.name.as_str();
            if seen.iter().any(|s| s.eq_ignore_ascii_case(name)) {
                return Err(format!("duplicate parameter {name}"));
            }
            seen.push(name);
            let value = param.value.as_deref();
            let flag = |set: &mut bool| match value {
                None => {
                    *set = true;
                    Ok(())
                }
                Some(_) => Err(format!("{name} takes no value")),
            };
            if name.eq_ignore_ascii_case(SERVER_NO_CONTEXT_TAKEOVER) {
                flag(&mut params.server_no_context_takeover)?;
            } else if name.eq_ignore_ascii_case(CLIENT_NO_CONTEXT_TAKEOVER) {
                flag(&mut params.client_no_context_takeover)?;
            } else if name.eq_ignore_ascii_case(SERVER_MAX_WINDOW_BITS) {
                params.server_max_window_bits = Some(value.map(window_bits).transpose()?);
            } else if name.eq_ignore_ascii_case(CLIENT_MAX_WINDOW_BITS) {
                params.client_max_window_bits = Some(value.map(window_bits).transpose()?);
            } else {
                return Err(format!("unknown parameter {name}"));
            }
        }
        Ok(params)
    }
}

fn clamp_bits(bits: u8) -> u8 {
    bits.clamp(8, 15)
}

/// Server: picks the first acceptable offer among `offers` (the client's `permessage-deflate`
/// offers, in its order of preference) and returns the response to send with the agreed
/// parameters; `Ok(None)` declines (no offer can be honoured: one without
/// `client_max_window_bits` while `config.client_max_window_bits` is below 15).
///
/// A malformed offer (unknown, duplicate or invalid parameter) is an `Err` with the reason: the
/// handshake fails with 400, as Node `ws` does, rather than silently running uncompressed.
pub fn server_negotiate(
    config: &DeflateConfig,
    offers: &[Extension],
) -> Result<Option<(Extension, DeflateParams)>, String> {
    let parsed = offers
        .iter()
        .filter(|offer| offer.name.eq_ignore_ascii_case(EXTENSION_NAME))
        .map(Params::parse)
        .collect::<Result<Vec<_>, _>>()?;
    for offer in parsed {
        let ours = clamp_bits(config.server_max_window_bits);
        let server_bits = match offer.server_max_window_bits {
            Some(Some(requested)) => requested.min(ours),
            Some(None) => return Err(format!("{SERVER_MAX_WINDOW_BITS} needs a value")),
            None => ours,
        };
        let wanted = clamp_bits(config.client_max_window_bits);
        let client_bits = match offer.client_max_window_bits {
            // The client cannot limit its window: only acceptable if we need no limit.
            None if wanted < 15 => continue,
            None => 15,
            Some(None) => wanted,
            Some(Some(announced)) => announced.min(wanted),
        };
        let params = DeflateParams {
            server_no_context_takeover: offer.server_no_context_takeover
                || config.server_no_context_takeover,
            client_no_context_takeover: offer.client_no_context_takeover
                || config.client_no_context_takeover,
            server_max_window_bits: server_bits,
            client_max_window_bits: client_bits,
        };
        let mut response = Extension::new(EXTENSION_NAME);
        if params.server_no_context_takeover {
            response = response.with_param(SERVER_NO_CONTEXT_TAKEOVER, None);
        }
        if params.client_no_context_takeover {
            response = response.with_param(CLIENT_NO_CONTEXT_TAKEOVER, None);
        }
        if server_bits < 15 || offer.server_max_window_bits.is_some() {
            response = response.with_param(SERVER_MAX_WINDOW_BITS, Some(&server_bits.to_string()));
        }
        if offer.client_max_window_bits.is_some() && client_bits < 15 {
            response = response.with_param(CLIENT_MAX_WINDOW_BITS, Some(&client_bits.to_string()));
        }
        return Ok(Some((response, params)));
    }
    Ok(None)
}

/// Client: the offer to send. It always carries `client_max_window_bits` (with a value when
/// `config.client_max_window_bits` is below 15) so the server may limit our window.
pub fn client_offer(config: &DeflateConfig) -> Extension {
    let mut offer = Extension::new(EXTENSION_NAME);
    if config.server_no_context_takeover {
        offer = offer.with_param(SERVER_NO_CONTEXT_TAKEOVER, None);
    }
    if config.client_no_context_takeover {
        offer = offer.with_param(CLIENT_NO_CONTEXT_TAKEOVER, None);
    }
    let server_bits = clamp_bits(config.server_max_window_bits);
    if server_bits < 15 {
        offer = offer.with_param(SERVER_MAX_WINDOW_BITS, Some(&server_bits.to_string()));
    }
    let client_bits = clamp_bits(config.client_max_window_bits);
    let value = (client_bits < 15).then(|| client_bits.to_string());
    offer.with_param(CLIENT_MAX_WINDOW_BITS, value.as_deref())
}

/// Client: checks the server's response to [`client_offer`]`(config)` and returns the agreed
/// parameters, or why the response is unacceptable (the handshake then fails).
pub fn client_accept(
    config: &DeflateConfig,
    response: &Extension,
) -> Result<DeflateParams, String> {
    let params = Params::parse(response)?;
    let requested_server_bits = clamp_bits(config.server_max_window_bits);
    let server_bits = match params.server_max_window_bits {
        Some(Some(bits)) if bits <= requested_server_bits => bits,
        Some(Some(bits)) => {
            return Err(format!(
                "{SERVER_MAX_WINDOW_BITS}={bits} exceeds the {requested_server_bits} requested"
            ))
        }
        Some(None) => return Err(format!("{SERVER_MAX_WINDOW_BITS} needs a value")),
        None if requested_server_bits < 15 => {
            return Err(format!(
                "response ignores the requested {SERVER_MAX_WINDOW_BITS}"
            ))
        }
        None => 15,
    };
    if config.server_no_context_takeover && !params.server_no_context_takeover {
        return Err(format!(
            "response ignores the requested {SERVER_NO_CONTEXT_TAKEOVER}"
        ));
    }
    let announced_client_bits = clamp_bits(config.client_max_window_bits);
    let client_bits = match params.client_max_window_bits {
        Some(Some(bits)) if bits <= announced_client_bits => bits,
        Some(Some(bits)) => {
            return Err(format!(
                "{CLIENT_MAX_WINDOW_BITS}={bits} exceeds the {announced_client_bits} offered"
            ))
        }
        Some(None) => return Err(format!("{CLIENT_MAX_WINDOW_BITS} needs a value")),
        None => announced_client_bits,
    };
    Ok(DeflateParams {
        server_no_context_takeover: params.server_no_context_takeover,
        client_no_context_takeover: params.client_no_context_takeover
            || config.client_no_context_takeover,
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: &str) -> Vec<Extension> {
        Extension::parse_list(value).unwrap()
    }

    fn negotiate(config: &DeflateConfig, offers: &str) -> Result<Option<String>, String> {
        Ok(server_negotiate(config, &parse(offers))?.map(|(response, _)| response.to_string()))
    }

    #[test]
    fn server_answers_each_parameter() {
        let config = DeflateConfig::default();
        let cases = [
            ("permessage-deflate", "permessage-deflate"),
            (
                "permessage-deflate; client_max_window_bits",
                "permessage-deflate",
            ),
            (
                "permessage-deflate; server_max_window_bits=10",
                "permessage-deflate; server_max_window_bits=10",
            ),
            (
                "permessage-deflate; server_max_window_bits=8",
                "permessage-deflate; server_max_window_bits=8",
            ),
            (
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
            ),
            (
                "permessage-deflate; client_max_window_bits=9",
                "permessage-deflate; client_max_window_bits=9",
            ),
        ];
        for (offer, response) in cases {
            assert_eq!(
                negotiate(&config, offer).unwrap().as_deref(),
                Some(response)
            );
        }
    }

    #[test]
    fn server_imposes_its_configuration() {
        let config = DeflateConfig {
            server_max_window_bits: 11,
            client_max_window_bits: 12,
            server_no_context_takeover: true,
            ..DeflateConfig::default()
        };
        // The first offer cannot limit the client's window: the second one is taken.
        let (response, params) = server_negotiate(
            &config,
            &parse("permessage-deflate, permessage-deflate; client_max_window_bits"),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            response.to_string(),
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=11; client_max_window_bits=12"
        );
        assert_eq!(
            params,
            DeflateParams {
                server_no_context_takeover: true,
                client_no_context_takeover: false,
                server_max_window_bits: 11,
                client_max_window_bits: 12,
            }
        );
        assert_eq!(negotiate(&config, "permessage-deflate"), Ok(None));
    }

    #[test]
    fn server_fails_malformed_offers() {
        let config = DeflateConfig::default();
        for offer in [
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; client_max_window_bits=16",
            "permessage-deflate; client_max_window_bits=010",
            "permessage-deflate; client_max_window_bits=+9",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; x_unknown",
            // A later malformed offer fails the handshake even if an earlier one is fine.
            "permessage-deflate, permessage-deflate; bogus",
        ] {
            assert!(negotiate(&config, offer).is_err(), "{offer}");
        }
    }

    #[test]
    fn client_offer_and_accept() {
        let config = DeflateConfig::default();
        assert_eq!(
            client_offer(&config).to_string(),
            "permessage-deflate; client_max_window_bits"
        );
        let accept =
            |config: &DeflateConfig, response: &str| client_accept(config, &parse(response)[0]);
        assert_eq!(
            accept(&config, "permessage-deflate"),
            Ok(DeflateParams::default())
        );
        assert_eq!(
            accept(
                &config,
                "permessage-deflate; client_max_window_bits=8; server_max_window_bits=9; client_no_context_takeover; server_no_context_takeover"
            ),
            Ok(DeflateParams {
                server_no_context_takeover: true,
                client_no_context_takeover: true,
                server_max_window_bits: 9,
                client_max_window_bits: 8,
            })
        );
        for bad in [
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; foo",
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        ] {
            assert!(accept(&config, bad).is_err(), "{bad}");
        }

        let strict = DeflateConfig {
            server_max_window_bits: 10,
            client_max_window_bits: 11,
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            ..DeflateConfig::default()
        };
        assert_eq!(
            client_offer(&strict).to_string(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=11"
        );
        for bad in [
            // Ignores server_max_window_bits / server_no_context_takeover, or widens a window.
            "permessage-deflate; server_no_context_takeover",
            "permessage-deflate; server_max_window_bits=10",
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=11",
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12",
        ] {
            assert!(accept(&strict, bad).is_err(), "{bad}");
        }
        assert_eq!(
            accept(
                &strict,
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=9"
            )
            .map(|p| (
                p.server_max_window_bits,
                p.client_max_window_bits,
                p.client_no_context_takeover
            )),
            Ok((9, 11, true))
        );
    }
}
