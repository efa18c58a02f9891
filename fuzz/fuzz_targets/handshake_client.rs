//! Arbitrary responses (in arbitrary chunks) into the client handshake.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ws_proto::handshake::{ClientAction, ClientHandshake, HandshakeError};
use ws_proto::{Config, FixedMask, Instant};

fuzz_target!(|data: &[u8]| {
    let [split, rest @ ..] = data else { return };
    let mut config = Config::default();
    config.max_handshake_size = 2048;
    let request = ClientHandshake::request("ws://example.com/chat").expect("valid URI");
    let mut hs = ClientHandshake::new(Instant::ZERO, request, *b"the sample nonce", config, FixedMask([1, 2, 3, 4]))
        .expect("valid request");
    hs.poll(&mut Vec::new());
    let cut = (*split as usize).min(rest.len());
    let mut terminal = 0;
    for chunk in [&rest[..cut], &rest[cut..]] {
        hs.handle_read(Instant::ZERO, chunk);
        while let Some(action) = hs.poll(&mut Vec::new()) {
            match action {
                ClientAction::Open(_) => terminal += 1,
                ClientAction::Failed(HandshakeError::Rejected(response)) => {
                    assert!(response.body().len() <= 2048, "refusal bodies are bounded");
                    terminal += 1;
                }
                ClientAction::Failed(_) => terminal += 1,
                _ => {}
            }
        }
    }
    hs.handle_eof(Instant::ZERO);
    hs.handle_timeout(Instant::MAX);
    while let Some(action) = hs.poll(&mut Vec::new()) {
        terminal += usize::from(matches!(action, ClientAction::Open(_) | ClientAction::Failed(_)));
    }
    assert!(terminal <= 1, "one outcome per handshake");
});
