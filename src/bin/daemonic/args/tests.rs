//! Unit tests of the command-line parser.

use super::values::{number, seconds};
use super::*;
use core::time::Duration;
use daemonic::{Group, User};
use std::ffi::CString;

mod supervise;

/// Parses `args`, each a C string, and runs `check` on the outcome.
fn with<R>(args: &[&str], check: impl FnOnce(Result<Options<'_>, Usage<'_>>) -> R) -> R {
    let owned: Vec<CString> = args.iter().map(|a| CString::new(*a).unwrap()).collect();
    let refs: Vec<&CStr> = owned.iter().map(|c| c.as_c_str()).collect();
    check(parse(&refs))
}

/// The usage error of `args`: its text and argument.
fn error(args: &[&str]) -> (String, Option<String>) {
    with(args, |r| match r {
        Ok(_) => panic!("{args:?} parsed"),
        Err(u) => (
            u.what.to_string(),
            u.arg.map(|a| a.to_str().unwrap().to_string()),
        ),
    })
}

fn start(options: &[&str]) -> Vec<String> {
    let mut args = vec!["start"];
    args.extend(options);
    args.extend(["--", "/bin/true"]);
    args.into_iter().map(String::from).collect()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// The fuzz target's check on generated command lines (`tests/fuzz_smoke.rs`
/// does the same for the library's parsers).
#[test]
fn generated_command_lines_are_parsed_or_refused() {
    let words: &[&[u8]] = &[
        b"\0",
        b"\0",
        b"\0",
        b"start",
        b"stop",
        b"status",
        b"restart",
        b"--",
        b"--pidfile",
        b"--pidfile=",
        b"p",
        b"--user",
        b"nobody:x",
        b"0:",
        b"--group",
        b"--env",
        b"A=1",
        b"=",
        b"--keep-fd",
        b"3",
        b"--notify-fd",
        b"--timeout",
        b"0.5",
        b"--retry",
        b"TERM/5",
        b"--signal",
        b"KILL",
        b"--umask",
        b"027",
        b"--oknodo",
        b"-V",
        b"--help",
        b"/bin/true",
        b"\xff",
        b"-",
    ];
    let mut inputs = daemonic::fuzzing::Inputs::new(5, words);
    for _ in 0..100_000 {
        check_arbitrary(&inputs.next(16));
    }
}

#[test]
fn every_option_and_command_has_its_name() {
    let names = [
        "pidfile",
        "user",
        "group",
        "chdir",
        "chroot",
        "umask",
        "stdout",
        "stderr",
        "env",
        "keep-fd",
        "timeout",
        "notify-fd",
        "signal",
        "retry",
        "restart",
        "restart-delay",
        "log-file",
        "log-max-size",
        "syslog",
        "syslog-facility",
        "clear-env",
        "foreground",
        "detach",
        "auto",
        "oknodo",
        "quiet",
        "notify-socket",
        "keep-core-limit",
        "supervise",
        "forward-to-group",
    ];
    assert_eq!(names.len(), OPTIONS.len());
    for (i, name) in names.iter().enumerate() {
        assert_eq!(find(OPTION_NAMES, name.as_bytes()), Some(i), "{name}");
        assert_eq!(
            format!("{:?}", OPTIONS[i].0).to_lowercase(),
            name.replace('-', "")
        );
    }
    for bad in ["", "pid", "pidfilex", "-"] {
        assert_eq!(find(OPTION_NAMES, bad.as_bytes()), None, "{bad}");
    }
    assert_eq!(
        find(COMMAND_NAMES, b"-V").map(|i| COMMANDS[i]),
        Some(Command::Version)
    );
    assert_eq!(
        find(COMMAND_NAMES, b"restart").map(|i| COMMANDS[i]),
        Some(Command::Restart)
    );
    assert_eq!(
        COMMAND_NAMES.iter().filter(|&&b| b == 0).count(),
        COMMANDS.len()
    );
}

#[test]
fn inline_and_separate_values_are_the_same() {
    for args in [
        start(&["--pidfile=/run/a=b.pid", "--umask=027", "--env=A=1"]),
        start(&[
            "--pidfile",
            "/run/a=b.pid",
            "--umask",
            "027",
            "--env",
            "A=1",
        ]),
    ] {
        with(&strs(&args), |r| {
            let o = r.unwrap();
            assert_eq!(o.pidfile, Some(c"/run/a=b.pid"));
            assert_eq!(o.umask, Some(0o27));
            assert_eq!(o.env.as_slice(), [c"A=1"]);
            assert_eq!(o.program, [c"/bin/true"]);
        });
    }
}

#[test]
fn the_program_starts_after_the_separator() {
    let args = ["start", "--quiet", "--", "/bin/sh", "--pidfile", "--"];
    with(&args, |r| {
        let o = r.unwrap();
        assert!(o.quiet);
        assert_eq!(o.pidfile, None);
        assert_eq!(o.program, [c"/bin/sh", c"--pidfile", c"--"]);
    });
    let missing = error(&["start", "--pidfile", "p"]);
    assert_eq!(missing.0, "missing -- before the program to run");
    assert_eq!(error(&["start", "--"]).0, "missing program after --");
    assert_eq!(error(&["start", "--", ""]).0, "empty program name");
    let stop = error(&["stop", "--pidfile", "p", "--", "x"]);
    assert_eq!(stop.0, "only start and restart take a program");
    let (what, arg) = error(&["start", "/bin/true"]);
    assert!(what.contains("the program goes after --"));
    assert_eq!(arg.as_deref(), Some("/bin/true"));
}

#[test]
fn commands_options_and_where_they_apply() {
    with(&["-V"], |r| {
        assert_eq!(r.unwrap().command, Command::Version)
    });
    with(&["stop", "--pidfile", "p", "--help"], |r| {
        assert_eq!(r.unwrap().command, Command::Help)
    });
    let stop = [
        "stop",
        "--pidfile=p",
        "--signal",
        "-sigint",
        "--retry",
        "5",
        "--oknodo",
    ];
    with(&stop, |r| {
        let o = r.unwrap();
        assert_eq!(
            (o.signal, o.retry, o.oknodo),
            (Signal::INT, Some("5"), true)
        );
    });
    assert_eq!(error(&[]).0, "no command (start, stop, status, restart)");
    assert_eq!(error(&["bogus"]).1.as_deref(), Some("bogus"));
    assert_eq!(error(&["stop", "--bogus"]).0, "unknown option");
    assert_eq!(error(&["stop", "--=x"]).0, "unknown option");
    let status = error(&["status", "--pidfile", "p", "--retry", "5"]);
    assert_eq!(status.0, "option does not apply to this command");
    assert_eq!(error(&["--help", "--quiet"]).0, status.0);
    let start_signal = error(&strs(&start(&["--signal", "KILL"])));
    assert_eq!(start_signal.0, status.0);
    assert_eq!(error(&["status"]).0, "missing --pidfile");
    assert_eq!(error(&["restart", "--", "x"]).0, "missing --pidfile");
    let (what, arg) = error(&["stop", "--pidfile"]);
    assert_eq!(
        (what.as_str(), arg.as_deref()),
        ("missing value for", Some("--pidfile"))
    );
    let flag = error(&strs(&start(&["--quiet=yes"])));
    assert_eq!(
        flag,
        ("option takes no value".into(), Some("--quiet=yes".into()))
    );
    assert_eq!(
        error(&["stop", "--pidfile=p", "--signal", "NOPE"]).0,
        "unknown signal"
    );
}

#[test]
fn flags_and_detach_modes() {
    let args = start(&["--auto", "--clear-env", "--notify-socket", "--auto"]);
    with(&strs(&args), |r| {
        let o = r.unwrap();
        assert!(o.clear_env && o.notify_socket && !o.quiet && !o.oknodo);
        assert_eq!(o.detach, Detach::Auto);
    });
    for pair in [["--foreground", "--detach"], ["--auto", "--foreground"]] {
        let what = error(&strs(&start(&pair))).0;
        assert_eq!(what, "--foreground, --detach and --auto exclude each other");
    }
    with(&strs(&start(&["--foreground"])), |r| {
        assert_eq!(r.unwrap().detach, Detach::Never)
    });
    with(&strs(&start(&[])), |r| {
        assert_eq!(r.unwrap().detach, Detach::Always)
    });
}

#[test]
fn seconds_with_an_optional_fraction() {
    let ms = |text: &str| seconds(text.as_bytes()).map(|d| d.as_millis());
    assert_eq!(ms("0.3"), Some(300));
    assert_eq!(ms("5"), Some(5000));
    assert_eq!(ms("5."), Some(5000));
    assert_eq!(ms(".25"), Some(250));
    assert_eq!(seconds(b"1.0000000019"), Some(Duration::new(1, 1)));
    assert_eq!(
        seconds(b"18446744073709551615"),
        Some(Duration::from_secs(u64::MAX))
    );
    for bad in [
        "",
        ".",
        "soon",
        "1.2.3",
        "-1",
        "+1",
        " 1",
        "1s",
        "1.x",
        "18446744073709551616",
    ] {
        assert_eq!(seconds(bad.as_bytes()), None, "{bad:?}");
    }
    let (what, arg) = error(&strs(&start(&["--timeout", "soon"])));
    assert_eq!(
        (what.as_str(), arg.as_deref()),
        ("--timeout takes seconds, not", Some("soon"))
    );
}

#[test]
fn numbers_masks_and_descriptors() {
    assert_eq!(number(b"777", 8, 0o777), Some(0o777));
    for bad in [&b""[..], b"8", b"1000", b"0x1f", b"+1", b"-0"] {
        assert_eq!(number(bad, 8, 0o777), None, "{bad:?}");
    }
    assert_eq!(
        decimal(b"2147483647", i32::MAX as u64),
        Some(i32::MAX as u64)
    );
    assert_eq!(decimal(b"2147483648", i32::MAX as u64), None);
    with(
        &strs(&start(&[
            "--keep-fd",
            "3",
            "--keep-fd=4",
            "--notify-fd",
            "0",
        ])),
        |r| {
            let o = r.unwrap();
            assert_eq!((o.keep.as_slice(), o.notify_fd), (&[3, 4][..], Some(0)));
        },
    );
    let (what, arg) = error(&strs(&start(&["--keep-fd", "x"])));
    assert_eq!(
        (what.as_str(), arg.as_deref()),
        ("not a descriptor number:", Some("x"))
    );
    for mask in ["9", "+7", "-7", " 7", "0o7", "1000", ""] {
        let umask = error(&strs(&start(&["--umask", mask])));
        assert_eq!(umask.0, "--umask takes an octal mask up to 777, not");
    }
}

#[test]
fn user_and_group_split_into_names_or_ids() {
    with(&strs(&start(&["--user", "app:staff"])), |r| {
        let o = r.unwrap();
        assert_eq!(
            (o.user, o.group),
            (Some(User::Name("app")), Some(Group::Name("staff")))
        );
    });
    with(&strs(&start(&["--group", "7", "--user=1000:"])), |r| {
        let o = r.unwrap();
        assert_eq!(
            (o.user, o.group),
            (Some(User::Id(1000)), Some(Group::Name("")))
        );
    });
    with(
        &strs(&start(&["--user", "4294967296", "--group", "50"])),
        |r| {
            let o = r.unwrap();
            assert_eq!(o.user, Some(User::Name("4294967296")));
            assert_eq!(o.group, Some(Group::Id(50)));
        },
    );
    let odd = CString::new(&b"n\xffbody"[..]).unwrap();
    let args = [c"start", c"--user", odd.as_c_str(), c"--", c"/bin/true"];
    let usage = parse(&args).err().unwrap();
    assert_eq!(
        (usage.what, usage.arg),
        ("not UTF-8:", Some(odd.as_c_str()))
    );
}

#[test]
fn env_takes_name_equals_value() {
    with(&strs(&start(&["--env", "A=", "--env", "B==c"])), |r| {
        assert_eq!(r.unwrap().env.as_slice(), [c"A=", c"B==c"]);
    });
    for bad in ["NOEQUALS", "=x", ""] {
        let (what, arg) = error(&strs(&start(&["--env", bad])));
        assert_eq!(
            (what.as_str(), arg.as_deref()),
            ("--env takes NAME=VALUE, not", Some(bad))
        );
    }
}

#[test]
fn a_list_holds_64_and_refuses_the_65th() {
    let mut options: Vec<String> = Vec::new();
    for i in 0..MAX_REPEATS {
        options.extend(["--env".into(), format!("V{i}=x")]);
    }
    with(&strs(&start(&strs(&options))), |r| {
        assert_eq!(r.unwrap().env.as_slice().len(), MAX_REPEATS)
    });
    options.push("--env=LAST=1".into());
    let (what, arg) = error(&strs(&start(&strs(&options))));
    assert_eq!(what, "an option is repeated more than 64 times");
    assert_eq!(arg.as_deref(), Some("--env=LAST=1"));
    let fds: Vec<String> = (3..=MAX_REPEATS + 3)
        .map(|i| format!("--keep-fd={i}"))
        .collect();
    assert_eq!(
        error(&strs(&start(&strs(&fds)))).1.as_deref(),
        Some("--keep-fd=67")
    );
}
