#![no_main]
//! See objstore_fuzz::spill_file (fuzz/src/spill_file.rs).

libfuzzer_sys::fuzz_target!(|data: &[u8]| objstore_fuzz::spill_file::run(data));
