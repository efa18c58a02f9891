//! Arbitrary request heads (in arbitrary chunks) into the server handshake; every upgrade
//! request is accepted and the resulting connection's invariants checked.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ws_fuzz::Checker;
use ws_proto::handshake::{Accept, ServerAction, ServerHandshake};
use ws_proto::{Config, Instant};

fuzz_target!(|data: &[u8]| {
    let [split, rest @ ..] = data else { return };
    let mut config = Config::default();
    config.max_handshake_size = 2048;
    config.max_handshake_headers = 16;
    let mut hs = ServerHandshake::new(Instant::ZERO, config);
    let cut = (*split as usize).min(rest.len());
    let mut terminal = 0;
    let mut connection = None;
    for chunk in [&rest[..cut], &rest[cut..]] {
        hs.handle_read(Instant::ZERO, chunk);
        let mut buf = Vec::new();
        while let Some(action) = hs.poll(&mut buf) {
            match action {
                ServerAction::Request(_) => {
                    if let Ok(upgrade) = hs.accept(Instant::ZERO, Accept::default()) {
                        connection = Some(upgrade.connection);
                        terminal += 1;
                    }
                }
                ServerAction::Failed(_) => terminal += 1,
                _ => {}
            }
        }
        assert!(buf.len() <= 4096, "responses are small");
    }
    hs.handle_eof(Instant::ZERO);
    hs.handle_timeout(Instant::MAX);
    while let Some(action) = hs.poll(&mut Vec::new()) {
        terminal += usize::from(matches!(action, ServerAction::Failed(_)));
    }
    assert!(terminal <= 1, "one outcome per handshake");
    if let Some(mut conn) = connection {
        let mut checker = Checker::default();
        checker.drain(&mut conn);
        conn.handle_eof(Instant::ZERO);
        checker.drain(&mut conn);
        assert!(checker.is_closed());
    }
});
