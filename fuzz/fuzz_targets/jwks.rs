//! Fuzz `KeySet::from_json` and `Jwk::from_json` with arbitrary input.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::jwks(data));
