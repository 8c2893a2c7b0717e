#![no_main]

// The command's parser, compiled here from its own source (it is a binary's module).
#[path = "../../src/bin/daemonic/args/mod.rs"]
#[allow(dead_code)]
mod args;

libfuzzer_sys::fuzz_target!(|data: &[u8]| args::check_arbitrary(data));
