//! Not part of the API: the checks the fuzz targets (`fuzz/`) and their deterministic
//! smoke test (`tests/fuzz_smoke.rs`) run on arbitrary bytes, one parser each. Each
//! panics when an invariant of its parser does not hold; every input is allowed to be
//! refused. Compiled with `std` only, and never linked into a program that does not
//! call it.

extern crate std;

use core::ffi::CStr;
use std::os::unix::ffi::OsStrExt;
use std::string::ToString;
use std::vec::Vec;

use crate::pidfile::{parse_content, Content};
use crate::schedule::{Schedule, Step};
use crate::signals::parse_signal;
use crate::users::{self, GroupList, UserKey};
use rustix::process::{Gid, Signal, Uid};

/// Pidfile content: a PID only from digits that say it (the first line's; after it
/// only digits and whitespace, a monitor's runs line), never 0 or negative.
pub fn pidfile_content(data: &[u8]) {
    let data = data.trim_ascii_start();
    let first = data.split(|&b| b == b'\n').next().unwrap_or_default();
    let rest = &data[first.len()..];
    let digits = crate::text::trim(if crate::text::trim(rest).is_empty() {
        data
    } else {
        first
    });
    match parse_content(data) {
        Content::Empty => assert!(digits.is_empty()),
        Content::Pid(pid) => {
            let n = pid.as_raw_nonzero().get();
            assert!(n > 0);
            assert!(digits.iter().all(u8::is_ascii_digit));
            let unpadded = &digits[digits.iter().take_while(|&&b| b == b'0').count()..];
            assert_eq!(unpadded, n.to_string().as_bytes());
            let runs = crate::text::trim(rest);
            let pidlike = |b: &u8| b.is_ascii_digit() || b.is_ascii_whitespace();
            assert!(runs.iter().all(pidlike), "after the PID line: {runs:?}");
        }
        Content::Other => assert!(!digits.is_empty()),
    }
}

/// The passwd and group parser, on `data` written to the file `scratch`: a user found
/// by name has that name, one found by id that id, and initgroups' list starts with
/// the primary group and has no duplicates.
pub fn users(data: &[u8], scratch: &CStr) {
    let path = std::path::Path::new(std::ffi::OsStr::from_bytes(scratch.to_bytes()));
    std::fs::write(path, data).expect("cannot write the scratch file");
    let names: [&[u8]; 3] = [b"root", b"", b"a"];
    for name in names {
        if let Ok(Some(account)) = users::find_user(scratch, UserKey::Name(name)) {
            assert_eq!(account.name(), name);
        }
        let mut list = GroupList::new();
        let primary = Gid::from_raw(7);
        if users::supplementary_groups(scratch, name, primary, &mut list).is_ok() {
            let gids = list.as_slice();
            assert_eq!(gids.first(), Some(&primary));
            let mut sorted: Vec<u32> = gids.iter().map(|g| g.as_raw()).collect();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), gids.len(), "a duplicate group");
        }
        let _ = users::find_group(scratch, name);
    }
    for uid in [0, 1, 65534, u32::MAX - 1] {
        if let Ok(Some(account)) = users::find_user(scratch, UserKey::Id(Uid::from_raw(uid))) {
            assert_eq!(account.uid().as_raw(), uid);
        }
    }
}

/// Stop schedules: a parsed one has steps, a `forever` inside them that repeats a
/// wait, and refusals say why.
pub fn schedule(data: &[u8]) {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    match Schedule::parse(text, Signal::TERM) {
        Ok(s) => {
            assert!(!s.steps().is_empty());
            if let Some(from) = s.forever {
                assert!(from < s.steps().len());
                assert!(s.steps()[from..].iter().any(|s| matches!(s, Step::Wait(_))));
            }
        }
        Err(e) => assert!(e.to_string().starts_with("invalid option: stop schedule")),
    }
}

/// Signal names and numbers: whatever parses, its number parses back to it.
pub fn signal(data: &[u8]) {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    if let Some(signal) = parse_signal(text) {
        let n = signal.as_raw();
        assert!((1..=64).contains(&n), "{n}");
        assert_eq!(parse_signal(&n.to_string()), Some(signal));
    }
}

/// A command line from fuzz data: the arguments between NUL bytes.
pub fn split_args(data: &[u8]) -> Vec<std::ffi::CString> {
    data.split(|&b| b == 0)
        .map(|a| std::ffi::CString::new(a).expect("split at every NUL"))
        .collect()
}

/// Byte strings for the smoke test: pieces of `dictionary` and random bytes, joined,
/// from a seeded xorshift generator (the same inputs in every run).
pub struct Inputs<'d> {
    state: u64,
    dictionary: &'d [&'d [u8]],
}

impl<'d> Inputs<'d> {
    /// A generator seeded with `seed` (not 0), drawing from `dictionary`.
    pub fn new(seed: u64, dictionary: &'d [&'d [u8]]) -> Inputs<'d> {
        Inputs {
            state: seed | 1,
            dictionary,
        }
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        x
    }

    /// The next input: up to `pieces` pieces, each a dictionary word or 1 to 4 random
    /// bytes.
    pub fn next(&mut self, pieces: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for _ in 0..self.next_u64() as usize % (pieces + 1) {
            let r = self.next_u64();
            if r % 4 != 0 && !self.dictionary.is_empty() {
                let word = self.dictionary[(r >> 8) as usize % self.dictionary.len()];
                out.extend_from_slice(word);
            } else {
                for i in 0..1 + (r >> 8) % 4 {
                    out.push((r >> (16 + 8 * i)) as u8);
                }
            }
        }
        out
    }
}
