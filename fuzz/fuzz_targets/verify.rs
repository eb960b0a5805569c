//! Fuzz `KeySet::verify`, `KeySet::verify_with` and `CompactJws::parse` with arbitrary input.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::verify(data));
