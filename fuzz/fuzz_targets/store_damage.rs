#![no_main]
//! See objstore_fuzz::store_damage (fuzz/src/store_damage.rs).

libfuzzer_sys::fuzz_target!(|data: &[u8]| objstore_fuzz::store_damage::run(data));
