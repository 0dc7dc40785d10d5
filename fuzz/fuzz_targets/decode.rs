//! A peer's traffic after a completed NULL handshake: frames, multipart assembly, commands.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ferromq::fuzz::decode(data));
