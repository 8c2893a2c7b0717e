//! Tests of the passwd and group parser, on files written for each test.

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
        let dir =
            std::env::temp_dir().join(format!("daemonic-users-{}-{}", std::process::id(), test));
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
