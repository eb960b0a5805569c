//! Fuzz `decode_client_token` (the unverified decoder) with arbitrary input.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::decode(data));
