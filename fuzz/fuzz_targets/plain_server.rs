//! plain server role: an honest peer's stream tampered with by the input (see
//! `src/zmtp/fuzz_mechanism.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ferromq::fuzz::plain_server(data));
