#![no_main]
//! See objstore_fuzz::capi_calls (fuzz/src/capi_calls.rs).

libfuzzer_sys::fuzz_target!(|data: &[u8]| objstore_fuzz::capi_calls::run(data));
