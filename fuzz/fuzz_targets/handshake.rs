//! A peer's whole stream from the greeting on; the first byte picks our socket type.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ferromq::fuzz::handshake(data));
