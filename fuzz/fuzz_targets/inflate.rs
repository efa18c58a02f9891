//! permessage-deflate's receive path: a server with the extension negotiated (parameters from the
//! input) reads client frames whose payloads are arbitrary (mostly not valid deflate), with RSV1,
//! FIN and opcode chosen by the input. Checks the usual invariants plus the memory bound: what a
//! compressed message inflates to never exceeds `max_message_size` (+1 byte of detection slack).
//! Then a differential round trip: the same input's chunks sent as messages by a compressing
//! client must arrive unchanged at the server.
//!
//! Layout: byte 0 picks the parameters, byte 1 the limit; then frames of
//! `[flags, len, payload...]` (flags: bit 0 FIN, bit 1 RSV1, bits 2-3 opcode).
#![no_main]
use libfuzzer_sys::fuzz_target;
use ws_fuzz::Checker;
use ws_proto::deflate::{DeflateConfig, DeflateParams};
use ws_proto::frame::{encode_frame, OpCode};
use ws_proto::{Compression, Config, Connection, Event, FixedMask, Instant, Role};

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn params_from(byte: u8) -> DeflateParams {
    let mut params = DeflateParams::default();
    params.client_max_window_bits = 8 + (byte & 0x07);
    params.server_max_window_bits = 8 + ((byte >> 3) & 0x07);
    params.client_no_context_takeover = byte & 0x40 != 0;
    params.server_no_context_takeover = byte & 0x80 != 0;
    params
}

fn config_from(byte: u8) -> Config {
    let mut config = Config::default();
    config.max_message_size = 256 << (byte % 8);
    config.max_frame_size = config.max_message_size;
    config.stream_fragments = byte & 0x80 != 0;
    config.keepalive_interval = None;
    let mut deflate = DeflateConfig::default();
    deflate.threshold = 0;
    config.deflate = Some(deflate);
    config
}

fuzz_target!(|data: &[u8]| {
    let [params, limit, rest @ ..] = data else { return };
    let (params, config) = (params_from(*params), config_from(*limit));
    let max = config.max_message_size;

    // Arbitrary frames into a server.
    let mut server =
        Connection::new(Role::Server, Instant::ZERO, config.clone(), FixedMask(MASK)).with_deflate(params);
    let mut checker = Checker::default();
    let mut chunks = Vec::new();
    let mut rest = rest;
    while let [flags, len, tail @ ..] = rest {
        let n = (*len as usize).min(tail.len());
        let (payload, next) = tail.split_at(n);
        chunks.push(payload);
        let opcode = [OpCode::Text, OpCode::Binary, OpCode::Continuation, OpCode::Ping][(*flags as usize >> 2) & 3];
        let mut frame = Vec::new();
        encode_frame(&mut frame, flags & 1 != 0, (flags & 2) << 1, opcode, Some(MASK), payload);
        server.handle_read(Instant::ZERO, &frame);
        checker.drain(&mut server);
        assert!(
            server.receive_allocated() <= 14 + 125 + max + 1,
            "{} bytes held for a {max}-byte limit",
            server.receive_allocated()
        );
        rest = next;
    }
    for event in &checker.events {
        match event {
            Event::Text(t) => assert!(t.len() <= max),
            Event::Binary(b) => assert!(b.len() <= max),
            _ => {}
        }
    }

    // Differential round trip through a compressing client.
    let mut client =
        Connection::new(Role::Client, Instant::ZERO, config.clone(), FixedMask(MASK)).with_deflate(params);
    let mut server = Connection::new(Role::Server, Instant::ZERO, config, FixedMask(MASK)).with_deflate(params);
    let (mut sent, mut client_out, mut server_in) = (Vec::new(), Checker::default(), Checker::default());
    for (i, chunk) in chunks.iter().enumerate() {
        let compression = if i % 3 == 2 { Compression::Never } else { Compression::Always };
        client.send_binary_with(chunk, compression).unwrap();
        sent.push(Event::Binary(chunk.to_vec().into()));
    }
    client_out.drain(&mut client);
    server.handle_read(Instant::ZERO, &client_out.wire);
    server_in.drain(&mut server);
    if !server_in.is_closed() {
        // Whole messages unless fragments are streamed; compare the reassembled bytes either way.
        let got: Vec<u8> = server_in.events.iter().flat_map(|e| match e {
            Event::Binary(b) => b.to_vec(),
            Event::Fragment(f) => f.data.to_vec(),
            _ => Vec::new(),
        }).collect();
        let want: Vec<u8> = chunks.concat();
        assert_eq!(got, want, "a compressed round trip changed the data");
    }
});
