//! The fuzz targets' checks (`daemonic::fuzzing`, run by `fuzz/` under libFuzzer) on
//! a fixed set of generated inputs: the smoke run `cargo xtask ci` makes of them on
//! the stable toolchain. `cargo xtask fuzz` runs the real fuzzers.

use daemonic::fuzzing::{self, Inputs};

#[test]
fn pidfile_content() {
    let words: &[&[u8]] = &[
        b"0",
        b"1",
        b"42",
        b"2147483647",
        b"2147483648",
        b" ",
        b"\n",
        b"\t",
        b"-",
        b"+",
        b"x",
    ];
    let mut inputs = Inputs::new(1, words);
    for _ in 0..200_000 {
        fuzzing::pidfile_content(&inputs.next(6));
    }
}

#[test]
fn users() {
    let words: &[&[u8]] = &[
        b"root",
        b"a",
        b":",
        b"::",
        b"\n",
        b"#",
        b"+",
        b"-",
        b"0",
        b"7",
        b"65534",
        b"4294967295",
        b"4294967296",
        b",",
        b"x",
        b"root:x:0:0:root:/root:/bin/sh\n",
        b"g:x:9:a,root\n",
    ];
    let dir = std::env::temp_dir().join(format!("daemonic-fuzz-smoke-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let scratch =
        std::ffi::CString::new(dir.join("file").into_os_string().into_encoded_bytes()).unwrap();
    let mut inputs = Inputs::new(2, words);
    for _ in 0..5_000 {
        fuzzing::users(&inputs.next(24), &scratch);
    }
    // A line longer than the parser's buffer, and many groups.
    fuzzing::users(&vec![b'a'; 20_000], &scratch);
    let many: String = (0..300).map(|g| format!("g{g}:x:{g}:root\n")).collect();
    fuzzing::users(many.as_bytes(), &scratch);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn schedule() {
    let words: &[&[u8]] = &[
        b"TERM",
        b"KILL",
        b"SIGHUP",
        b"-9",
        b"/",
        b"30",
        b"0",
        b"forever",
        b"99999999999999999999",
        b"x",
        b"",
        b"sigterm",
    ];
    let mut inputs = Inputs::new(3, words);
    for _ in 0..100_000 {
        fuzzing::schedule(&inputs.next(40));
    }
}

#[test]
fn signal() {
    let words: &[&[u8]] = &[
        b"SIG", b"sig", b"-", b"TERM", b"KILL", b"RTMIN", b"1", b"64", b"65", b"0", b"32", b"USR1",
    ];
    let mut inputs = Inputs::new(4, words);
    for _ in 0..200_000 {
        fuzzing::signal(&inputs.next(4));
    }
}
