#![no_main]

// The command's parser, compiled here from its own source (it is a binary's module),
// with the list type it uses.
#[path = "../../src/bin/daemonic/args/mod.rs"]
#[allow(dead_code, unused_imports)]
mod args;
#[path = "../../src/bin/daemonic/list.rs"]
#[allow(dead_code)]
mod list;

libfuzzer_sys::fuzz_target!(|data: &[u8]| args::check_arbitrary(data));
