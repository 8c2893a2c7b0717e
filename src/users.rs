//! User and group lookup without NSS.
//!
//! Static musl binaries have no NSS, so `getpwnam(3)` and friends cannot be
//! relied on; instead we parse `/etc/passwd` and `/etc/group` ourselves, in the
//! original process before it forks. Limits: only these flat files are read
//! (no NSS modules, no LDAP, no NIS `+`/`-` entries), and they are read as the
//! original process sees them, before any chroot. Parsing never allocates: the
//! file is streamed through a fixed stack buffer of [`LINE_MAX`] bytes, and a
//! longer line is an error rather than skipped, since a skipped group line
//! could hide a membership; likewise more than [`MAX_GROUPS`] groups is an
//! error rather than a truncated list.

use core::ffi::CStr;
use core::ops::ControlFlow;

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::process::{Gid, Uid};

use crate::stack::Stack;

/// Maximum supplementary groups we collect (Linux `NGROUPS_MAX` is 65536; 256 covers real systems).
pub(crate) const MAX_GROUPS: usize = 256;
/// Longest user name we keep (Linux `LOGIN_NAME_MAX` is 256 including NUL).
pub(crate) const NAME_MAX: usize = 255;
/// Size of the read buffer, and so the longest line (newline included) we accept.
const LINE_MAX: usize = 16 * 1024;

/// Why a lookup failed. A missing entry is not an error (`Ok(None)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LookupError {
    /// Opening or reading the file failed (`Errno::NOENT` if it does not exist).
    Io(Errno),
    /// A line does not fit in [`LINE_MAX`] bytes.
    LineTooLong,
    /// The user is in more than [`MAX_GROUPS`] distinct groups.
    TooManyGroups,
}

/// What to look a user up by.
#[derive(Clone, Copy)]
pub(crate) enum UserKey<'a> {
    Name(&'a [u8]),
    Id(Uid),
}

/// A passwd entry: uid, primary gid and the login name (copied into an inline buffer).
#[derive(Clone, Copy)]
pub(crate) struct Account {
    uid: Uid,
    gid: Gid,
    name: Stack<u8, NAME_MAX>,
}

impl Account {
    pub(crate) fn uid(&self) -> Uid {
        self.uid
    }

    pub(crate) fn gid(&self) -> Gid {
        self.gid
    }

    pub(crate) fn name(&self) -> &[u8] {
        self.name.as_slice()
    }
}

/// Looks a user up in `passwd` (normally c"/etc/passwd") by name or by uid; first match wins. Ok(None) if absent.
pub(crate) fn find_user(passwd: &CStr, key: UserKey<'_>) -> Result<Option<Account>, LookupError> {
    let mut found = None;
    for_each_line(passwd, &mut |[name, _, uid, gid]| {
        let (Some(uid), Some(gid)) = (parse_id(uid), parse_id(gid)) else {
            return ControlFlow::Continue(());
        };
        let hit = match key {
            UserKey::Name(key) => key == name,
            UserKey::Id(key) => key.as_raw() == uid,
        };
        let mut stored = Stack::new();
        // A name we could not store is treated like any other malformed line.
        if !hit || stored.extend(name).is_err() {
            return ControlFlow::Continue(());
        }
        found = Some(Account {
            uid: Uid::from_raw(uid),
            gid: Gid::from_raw(gid),
            name: stored,
        });
        ControlFlow::Break(Ok(()))
    })?;
    Ok(found)
}

/// Looks a group up in `group` (normally c"/etc/group") by name; returns its gid. Ok(None) if absent.
pub(crate) fn find_group(group: &CStr, name: &[u8]) -> Result<Option<Gid>, LookupError> {
    let mut found = None;
    for_each_line(group, &mut |[group_name, _, gid, _]| match parse_id(gid) {
        Some(gid) if group_name == name => {
            found = Some(Gid::from_raw(gid));
            ControlFlow::Break(Ok(()))
        }
        _ => ControlFlow::Continue(()),
    })?;
    Ok(found)
}

/// A fixed-capacity, duplicate-free list of gids.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GroupList {
    gids: Stack<Gid, MAX_GROUPS>,
}

impl GroupList {
    /// An empty list.
    pub(crate) const fn new() -> Self {
        Self { gids: Stack::new() }
    }

    /// Appends `gid` unless already present; `TooManyGroups` when full.
    pub(crate) fn push(&mut self, gid: Gid) -> Result<(), LookupError> {
        if self.as_slice().contains(&gid) {
            return Ok(());
        }
        self.gids.push(gid).map_err(|_| LookupError::TooManyGroups)
    }

    pub(crate) fn clear(&mut self) {
        self.gids.truncate(0);
    }

    pub(crate) fn as_slice(&self) -> &[Gid] {
        self.gids.as_slice()
    }
}

/// initgroups(3) without NSS: `primary` first, then the gid of every group in `group` whose member list
/// (4th field, comma-separated) contains `user` exactly.
///
/// `out` is cleared first, so `primary` is always its first element.
pub(crate) fn supplementary_groups(
    group: &CStr,
    user: &[u8],
    primary: Gid,
    out: &mut GroupList,
) -> Result<(), LookupError> {
    out.clear();
    out.push(primary)?;
    // An empty name would match the empty member list of every group.
    if user.is_empty() {
        return Ok(());
    }
    for_each_line(group, &mut |[_, _, gid, members]| match parse_id(gid) {
        Some(gid) if members.split(|&b| b == b',').any(|m| m == user) => {
            match out.push(Gid::from_raw(gid)) {
                Ok(()) => ControlFlow::Continue(()),
                full => ControlFlow::Break(full),
            }
        }
        _ => ControlFlow::Continue(()),
    })
}

/// What a line callback says: go on, or stop with this result.
type Step = ControlFlow<Result<(), LookupError>>;

/// Calls `f` with the first four `:`-separated fields of each entry line of
/// `path` (missing fields are empty) until it breaks, returning the break value.
///
/// Comments, blank lines, NIS `+`/`-` entries and entries with an empty name
/// are skipped here; callers skip lines whose ids do not parse. `f` is `dyn`
/// so that this loop, and its 16 KiB buffer, exist once in the binary.
fn for_each_line(path: &CStr, f: &mut dyn FnMut([&[u8]; 4]) -> Step) -> Result<(), LookupError> {
    let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
        .map_err(LookupError::Io)?;
    let mut buf = [0u8; LINE_MAX];
    // Bytes at the start of `buf` holding a line not yet ended by a newline.
    let mut kept = 0;
    loop {
        // `get` rather than indexing: the ranges are always in bounds, and
        // this keeps panic paths out of the binary.
        let Some(free) = buf.get_mut(kept..) else {
            return Ok(());
        };
        // A full buffer without a newline: reading on would drop part of a line.
        if free.is_empty() {
            return Err(LookupError::LineTooLong);
        }
        let n = match rustix::io::read(&fd, free) {
            Ok(n) => n,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(LookupError::Io(e)),
        };
        let Some(data) = buf.get(..kept + n) else {
            return Ok(());
        };
        let mut lines = data.split(|&b| b == b'\n');
        // The last piece has no newline after it: carried over, or at EOF the
        // final line of a file without a trailing newline.
        let rest = lines.next_back().unwrap_or(&[]);
        for line in lines.chain(if n == 0 { Some(rest) } else { None }) {
            if let ControlFlow::Break(result) = entry(line, f) {
                return result;
            }
        }
        if n == 0 {
            return Ok(());
        }
        kept = rest.len();
        let end = data.len();
        // Never saturates, but spares a bounds check and its panic path.
        buf.copy_within(end.saturating_sub(kept)..end, 0);
    }
}

/// Feeds one line to `f` unless it is not an entry.
fn entry(mut line: &[u8], f: &mut dyn FnMut([&[u8]; 4]) -> Step) -> Step {
    // Like glibc, ignore leading blanks.
    while let [b' ' | b'\t', rest @ ..] = line {
        line = rest;
    }
    if let None | Some(b'#' | b'+' | b'-' | b':') = line.first() {
        return ControlFlow::Continue(());
    }
    let mut fields: [&[u8]; 4] = [&[]; 4];
    for (slot, field) in fields.iter_mut().zip(line.split(|&b| b == b':')) {
        *slot = field;
    }
    f(fields)
}

/// Parses a decimal id; `None` for anything else, including `u32::MAX`,
/// which is `(uid_t)-1` ("no change" to setuid & co.) and never a real id.
fn parse_id(field: &[u8]) -> Option<u32> {
    if field.is_empty() {
        return None;
    }
    let mut id: u32 = 0;
    for &b in field {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        id = id.checked_mul(10)?.checked_add(u32::from(digit))?;
    }
    (id != u32::MAX).then_some(id)
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::ffi::CString;
    use std::format;
    use std::os::unix::ffi::OsStringExt;
    use std::path::PathBuf;
    use std::string::String;
    use std::vec::Vec;

    /// A file in a temp dir unique to this process and test, removed on drop.
    struct Fixture {
        dir: PathBuf,
        path: CString,
    }

    impl Fixture {
        fn new(test: &str, contents: &[u8]) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "daemonic-users-{}-{}",
                std::process::id(),
                test
            ));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("file");
            std::fs::write(&path, contents).unwrap();
            let path = CString::new(path.into_os_string().into_vec()).unwrap();
            Self { dir, path }
        }

        fn path(&self) -> &CStr {
            &self.path
        }
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn by_name(f: &Fixture, name: &str) -> Option<(u32, u32, String)> {
        by_key(f, UserKey::Name(name.as_bytes()))
    }

    fn by_uid(f: &Fixture, uid: u32) -> Option<(u32, u32, String)> {
        by_key(f, UserKey::Id(Uid::from_raw(uid)))
    }

    fn by_key(f: &Fixture, key: UserKey<'_>) -> Option<(u32, u32, String)> {
        find_user(f.path(), key).unwrap().map(|a| {
            (
                a.uid().as_raw(),
                a.gid().as_raw(),
                String::from_utf8(a.name().into()).unwrap(),
            )
        })
    }

    fn group(f: &Fixture, name: &str) -> Option<u32> {
        find_group(f.path(), name.as_bytes())
            .unwrap()
            .map(Gid::as_raw)
    }

    fn groups(f: &Fixture, user: &str, primary: u32) -> Result<Vec<u32>, LookupError> {
        let mut out = GroupList::new();
        supplementary_groups(f.path(), user.as_bytes(), Gid::from_raw(primary), &mut out)?;
        Ok(out.as_slice().iter().map(|g| g.as_raw()).collect())
    }

    fn user(name: &str, uid: u64, gid: u64) -> String {
        format!("{name}:x:{uid}:{gid}:{name} user:/home/{name}:/bin/sh\n")
    }

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
                          daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
                          alice:x:1000:1001:Alice:/home/alice:/bin/sh\n";

    #[test]
    fn user_by_name_and_uid() {
        let f = Fixture::new("by_name_uid", PASSWD.as_bytes());
        assert_eq!(by_name(&f, "alice"), Some((1000, 1001, "alice".into())));
        assert_eq!(by_name(&f, "root"), Some((0, 0, "root".into())));
        assert_eq!(by_uid(&f, 1), Some((1, 1, "daemon".into())));
        assert_eq!(by_uid(&f, 1000), Some((1000, 1001, "alice".into())));
        assert_eq!(by_name(&f, "bob"), None);
        assert_eq!(by_uid(&f, 1001), None);
    }

    #[test]
    fn first_match_wins() {
        let passwd = user("alice", 1000, 1) + &user("alice", 2000, 2) + &user("bob", 1000, 3);
        let f = Fixture::new("first_match", passwd.as_bytes());
        assert_eq!(by_name(&f, "alice"), Some((1000, 1, "alice".into())));
        assert_eq!(by_uid(&f, 1000), Some((1000, 1, "alice".into())));
        assert_eq!(by_name(&f, "bob"), Some((1000, 3, "bob".into())));
        let g = Fixture::new("first_match_group", b"wheel:x:10:\nwheel:x:11:\n");
        assert_eq!(group(&g, "wheel"), Some(10));
    }

    #[test]
    fn skips_comments_blank_malformed_and_nis_lines() {
        let passwd = "# alice:x:1:1::/:/bin/sh\n\
                      #alice:x:2:2::/:/bin/sh\n\
                      \n   \n\t\n\
                      \t # alice:x:3:3::/:/bin/sh\n\
                      +alice:x:4:4::/:/bin/sh\n\
                      -alice:x:5:5::/:/bin/sh\n\
                      +\n-alice\n+@admins\n\
                      alice\n\
                      alice:x:6\n\
                      alice:x:7:\n\
                      alice:x:abc:8::/:/bin/sh\n\
                      alice:x:9:-8::/:/bin/sh\n\
                      alice:x: 10:10::/:/bin/sh\n\
                      alice:x:+11:11::/:/bin/sh\n\
                      alice:x::12::/:/bin/sh\n\
                      :x:13:13::/:/bin/sh\n\
                      alice:x:42:43:Alice:/home/alice:/bin/sh\n\
                      \x20 bob:x:50:51::/:/bin/sh\n";
        let f = Fixture::new("skips_passwd", passwd.as_bytes());
        assert_eq!(by_name(&f, "alice"), Some((42, 43, "alice".into())));
        for uid in 1..=13 {
            assert_eq!(by_uid(&f, uid), None, "uid {uid}");
        }
        assert_eq!(by_name(&f, ""), None);
        // Leading blanks are ignored, as glibc does.
        assert_eq!(by_name(&f, "bob"), Some((50, 51, "bob".into())));

        let group_file = "#wheel:x:1:alice\n\n+wheel:x:2:alice\n-wheel:x:3:alice\n\
                          wheel\nwheel:x\nwheel:x::alice\nwheel:x:ten:alice\n\
                          :x:4:alice\n\
                          wheel:x:10:alice\n";
        let g = Fixture::new("skips_group", group_file.as_bytes());
        assert_eq!(group(&g, "wheel"), Some(10));
        assert_eq!(group(&g, ""), None);
        assert_eq!(groups(&g, "alice", 100), Ok(std::vec![100, 10]));
    }

    #[test]
    fn prefix_of_name_does_not_match() {
        let f = Fixture::new("prefix", user("nobody", 65534, 65534).as_bytes());
        assert_eq!(by_name(&f, "nob"), None);
        assert_eq!(by_name(&f, "nobody1"), None);
        assert_eq!(by_name(&f, "nobody"), Some((65534, 65534, "nobody".into())));
        let g = Fixture::new("prefix_group", b"nogroup:x:65534:\n");
        assert_eq!(group(&g, "nog"), None);
        assert_eq!(group(&g, "nogroupx"), None);
        assert_eq!(group(&g, "nogroup"), Some(65534));
    }

    #[test]
    fn missing_file_is_noent() {
        let missing = c"/nonexistent-daemonic-test-dir/passwd";
        let noent = Some(LookupError::Io(Errno::NOENT));
        assert_eq!(find_user(missing, UserKey::Name(b"root")).err(), noent);
        assert_eq!(find_group(missing, b"root").err(), noent);
        let mut out = GroupList::new();
        assert_eq!(
            supplementary_groups(missing, b"root", Gid::ROOT, &mut out).err(),
            noent
        );
    }

    #[test]
    fn lines_spanning_many_reads() {
        // Lines of varying length, so read boundaries fall everywhere in them.
        let mut passwd = String::new();
        for i in 0..4000u32 {
            let pad = "x".repeat((i % 37) as usize);
            passwd += &format!(
                "user{i}:x:{}:{}:{pad}:/home/user{i}:/bin/sh\n",
                10_000 + i,
                i
            );
        }
        passwd += &user("target", 777, 778);
        assert!(passwd.len() > 4 * LINE_MAX);
        let f = Fixture::new("many_reads", passwd.as_bytes());
        assert_eq!(by_name(&f, "target"), Some((777, 778, "target".into())));
        assert_eq!(by_uid(&f, 777), Some((777, 778, "target".into())));
        for i in (0..4000u32).step_by(53) {
            let name = format!("user{i}");
            assert_eq!(by_uid(&f, 10_000 + i), Some((10_000 + i, i, name.clone())));
            assert_eq!(by_name(&f, &name), Some((10_000 + i, i, name)));
        }

        // Every membership is found, wherever its line falls.
        let mut group_file = String::new();
        let mut expected = std::vec![5];
        for i in 0..3000u32 {
            let member = if i % 12 == 0 { "target" } else { "other" };
            let pad = "m".repeat((i % 41) as usize);
            group_file += &format!("g{i}:x:{}:a{pad},{member},z\n", 1000 + i);
            if i % 12 == 0 {
                expected.push(1000 + i);
            }
        }
        group_file += "last:x:9999:target"; // no trailing newline
        expected.push(9999);
        assert!(group_file.len() > 4 * LINE_MAX);
        let g = Fixture::new("many_reads_group", group_file.as_bytes());
        assert_eq!(groups(&g, "target", 5), Ok(expected));
        assert_eq!(group(&g, "last"), Some(9999));
        assert_eq!(group(&g, "g2999"), Some(3999));
    }

    #[test]
    fn line_too_long_is_an_error() {
        // The longest line that fits (newline included) is fine...
        let fits = format!("x:x:1:1:{}:/:/bin/sh\n", "a".repeat(LINE_MAX - 19));
        assert_eq!(fits.len(), LINE_MAX);
        let f = Fixture::new("fits", (fits + &user("alice", 5, 5)).as_bytes());
        assert_eq!(by_name(&f, "alice"), Some((5, 5, "alice".into())));

        // ...one byte more is not, even if it is not the line looked for.
        let long = format!("x:x:1:1:{}:/:/bin/sh\n", "a".repeat(LINE_MAX - 18));
        let f = Fixture::new("too_long", (long + &user("alice", 5, 5)).as_bytes());
        assert_eq!(
            find_user(f.path(), UserKey::Name(b"alice")).map(|a| a.is_some()),
            Err(LookupError::LineTooLong)
        );

        let members = "m,".repeat(LINE_MAX);
        let g = Fixture::new(
            "too_long_group",
            format!("big:x:10:{members}alice\nwheel:x:11:alice\n").as_bytes(),
        );
        assert_eq!(groups(&g, "alice", 1), Err(LookupError::LineTooLong));
        assert_eq!(
            find_group(g.path(), b"wheel"),
            Err(LookupError::LineTooLong)
        );
    }

    #[test]
    fn supplementary_groups_like_initgroups() {
        let group_file = "root:x:0:\n\
                          wheel:x:10:alice,bob\n\
                          users:x:100:al,alicex,xalice,ALICE\n\
                          audio:x:29:bob,alice\n\
                          video:x:44:alice\n\
                          wheel2:x:10:alice\n\
                          staff:x:50:alice\n\
                          empty:x:70:\n\
                          last:x:60:carol,alice";
        let g = Fixture::new("supplementary", group_file.as_bytes());
        // Primary first, in file order after, duplicates (10, 50) removed, last
        // line parsed without its trailing newline.
        assert_eq!(groups(&g, "alice", 50), Ok(std::vec![50, 10, 29, 44, 60]));
        assert_eq!(groups(&g, "al", 7), Ok(std::vec![7, 100]));
        assert_eq!(groups(&g, "bob", 10), Ok(std::vec![10, 29]));
        assert_eq!(groups(&g, "carol", 3), Ok(std::vec![3, 60]));
        assert_eq!(groups(&g, "dave", 3), Ok(std::vec![3]));
        // An empty name is in no group, not in every group with no members.
        assert_eq!(groups(&g, "", 3), Ok(std::vec![3]));

        // Whatever was in the list before is replaced.
        let mut out = GroupList::new();
        out.push(Gid::from_raw(99)).unwrap();
        supplementary_groups(g.path(), b"bob", Gid::from_raw(1), &mut out).unwrap();
        let got: Vec<u32> = out.as_slice().iter().map(|g| g.as_raw()).collect();
        assert_eq!(got, [1, 10, 29]);
    }

    #[test]
    fn group_list_is_bounded_and_duplicate_free() {
        let mut list = GroupList::new();
        assert!(list.as_slice().is_empty());
        for gid in 0..MAX_GROUPS as u32 {
            list.push(Gid::from_raw(gid)).unwrap();
            list.push(Gid::from_raw(gid)).unwrap();
        }
        assert_eq!(list.as_slice().len(), MAX_GROUPS);
        assert_eq!(
            list.as_slice()[MAX_GROUPS - 1].as_raw(),
            MAX_GROUPS as u32 - 1
        );
        // Full: duplicates are still fine, a new gid is not.
        assert_eq!(list.push(Gid::from_raw(0)), Ok(()));
        assert_eq!(
            list.push(Gid::from_raw(MAX_GROUPS as u32)),
            Err(LookupError::TooManyGroups)
        );
    }

    #[test]
    fn too_many_groups() {
        let memberships = |n: u32| -> String {
            (0..n)
                .map(|i| format!("g{i}:x:{}:bob,alice\n", 1000 + i))
                .collect()
        };
        // Primary plus MAX_GROUPS - 1 groups fill the list exactly.
        let g = Fixture::new("groups_fit", memberships(MAX_GROUPS as u32 - 1).as_bytes());
        assert_eq!(groups(&g, "alice", 1).map(|v| v.len()), Ok(MAX_GROUPS));
        // One more distinct group does not fit.
        let g = Fixture::new("too_many", memberships(MAX_GROUPS as u32).as_bytes());
        assert_eq!(groups(&g, "alice", 1), Err(LookupError::TooManyGroups));
        // Unless it is the primary group anyway.
        assert_eq!(groups(&g, "alice", 1000).map(|v| v.len()), Ok(MAX_GROUPS));
    }

    #[test]
    fn uid_minus_one_and_overflow_skipped() {
        let passwd = user("max", 4_294_967_295, 1)
            + &user("max", 4_294_967_296, 2)
            + &user("max", 1, 4_294_967_295)
            + &user("max", 99_999_999_999, 3)
            + &user("max", 4_294_967_294, 4);
        let f = Fixture::new("uid_max", passwd.as_bytes());
        assert_eq!(by_name(&f, "max"), Some((4_294_967_294, 4, "max".into())));
        assert_eq!(by_uid(&f, 1), None);
        assert_eq!(
            by_uid(&f, 4_294_967_294),
            Some((4_294_967_294, 4, "max".into()))
        );
        let g = Fixture::new(
            "gid_max",
            b"big:x:4294967295:alice\nbig:x:4294967296:alice\nbig:x:4294967294:alice\n",
        );
        assert_eq!(group(&g, "big"), Some(4_294_967_294));
        assert_eq!(groups(&g, "alice", 1), Ok(std::vec![1, 4_294_967_294]));
    }

    #[test]
    fn overlong_names_are_skipped() {
        let long = "n".repeat(NAME_MAX + 1);
        let longest = "n".repeat(NAME_MAX);
        let passwd = user(&long, 1, 1) + &user(&longest, 2, 2);
        let f = Fixture::new("long_name", passwd.as_bytes());
        assert_eq!(by_name(&f, &long), None);
        assert_eq!(by_uid(&f, 1), None);
        assert_eq!(by_name(&f, &longest), Some((2, 2, longest)));
    }
}
