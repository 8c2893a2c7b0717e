#![no_main]

use std::ffi::CString;
use std::sync::OnceLock;

/// The file each input is written to: one per fuzzing process, in /dev/shm if there.
fn scratch() -> &'static CString {
    static PATH: OnceLock<CString> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = if std::path::Path::new("/dev/shm").is_dir() { "/dev/shm" } else { "/tmp" };
        CString::new(format!("{dir}/daemonic-fuzz-users-{}", std::process::id())).unwrap()
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| daemonic::fuzzing::users(data, scratch()));
