//! Unit tests of the stop schedule (`Schedule::parse`, start-stop-daemon's `--retry`
//! syntax, and the words of its errors), of `parse_signal`, of the exit codes of
//! `Status` and `Stopped`, and of the paths `status` and `stop` refuse outright,
//! through the public API only.

use core::time::Duration;

use daemonic::{
    parse_signal, status, stop, ErrorKind, Pid, Schedule, Signal, Status, Step, Stopped,
};

fn wait(secs: u64) -> Step {
    Step::Wait(Duration::from_secs(secs))
}

fn sig(signal: Signal) -> Step {
    Step::Signal(signal)
}

fn parse(text: &str) -> Schedule {
    Schedule::parse(text, Signal::TERM).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

/// The message of a refused schedule, after checking its kind.
fn refused(text: &str) -> String {
    match Schedule::parse(text, Signal::TERM) {
        Ok(schedule) => panic!("{text:?} was accepted: {:?}", schedule.steps()),
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::InvalidOption, "{text:?}: {e}");
            let message = e.to_string();
            // Quoted whole when short and printable; `a_refused_schedule_says_why` and
            // `schedule_length_limit` check the other cases.
            let plain = text.len() <= 48 && !text.bytes().any(|b| b.is_ascii_control());
            let quoted = if plain {
                format!("stop schedule \"{text}\": ")
            } else {
                "stop schedule \"".to_string()
            };
            assert!(
                message.contains(&quoted),
                "the message should quote the schedule: {message}"
            );
            message
        }
    }
}

#[test]
fn signal_wait_signal_wait() {
    assert_eq!(
        parse("TERM/30/KILL/5").steps(),
        [sig(Signal::TERM), wait(30), sig(Signal::KILL), wait(5)]
    );
    assert_eq!(
        parse("HUP/1/INT/2/KILL/3").steps(),
        [
            sig(Signal::HUP),
            wait(1),
            sig(Signal::INT),
            wait(2),
            sig(Signal::KILL),
            wait(3)
        ]
    );
    // A schedule need not end with a wait, nor start with a signal.
    assert_eq!(parse("TERM").steps(), [sig(Signal::TERM)]);
    assert_eq!(parse("5/KILL").steps(), [wait(5), sig(Signal::KILL)]);
}

/// A bare number N is `SIGNAL/N/KILL/N`, SIGNAL being the one given to `parse`.
#[test]
fn bare_number_is_signal_then_kill() {
    assert_eq!(
        parse("5").steps(),
        [sig(Signal::TERM), wait(5), sig(Signal::KILL), wait(5)]
    );
    assert_eq!(
        Schedule::parse("7", Signal::INT).unwrap().steps(),
        [sig(Signal::INT), wait(7), sig(Signal::KILL), wait(7)]
    );
    assert_eq!(
        parse("0").steps(),
        [sig(Signal::TERM), wait(0), sig(Signal::KILL), wait(0)]
    );
    // The signal given to `parse` is only for the bare number.
    assert_eq!(
        Schedule::parse("TERM/5", Signal::INT).unwrap().steps(),
        [sig(Signal::TERM), wait(5)]
    );
}

/// Signals as start-stop-daemon takes them: names with or without SIG, any case, or
/// `-NUMBER` (a plain number is a wait).
#[test]
fn signal_spellings_in_a_schedule() {
    let expected = [sig(Signal::TERM), wait(1)];
    for text in [
        "TERM/1",
        "SIGTERM/1",
        "term/1",
        "SigTerm/1",
        "-15/1",
        "-TERM/1",
    ] {
        assert_eq!(parse(text).steps(), expected, "{text}");
    }
    assert_eq!(parse("15/1").steps(), [wait(15), wait(1)]);
    assert_eq!(parse("-9").steps(), [sig(Signal::KILL)]);
}

/// `forever` repeats the rest of the schedule; it is kept apart from the steps, so a
/// schedule with it differs from the same steps without it.
#[test]
fn forever() {
    let with = parse("TERM/5/forever/KILL/1");
    let without = parse("TERM/5/KILL/1");
    assert_eq!(with.steps(), without.steps());
    assert_ne!(with, without, "forever was dropped");
    assert_ne!(
        parse("forever/TERM/5/KILL/1"),
        with,
        "where forever stands must count"
    );
    assert_eq!(
        parse("forever/TERM/1").steps(),
        [sig(Signal::TERM), wait(1)]
    );
    assert_eq!(
        parse("TERM/forever/1").steps(),
        [sig(Signal::TERM), wait(1)]
    );
}

#[test]
fn invalid_schedules() {
    for text in [
        "",
        "/",
        "TERM/",
        "/TERM",
        "TERM//5",
        "TERM/x",
        "TERM/1.5",
        "TERM/-",
        "TERM/ 5",
        "NOPE/5",
        "99999999999999999999999",
        "TERM/99999999999999999999999",
    ] {
        refused(text);
    }
}

/// The words of a refused schedule: the option, the text, and why; no errno, and
/// the exit code of any invalid option.
#[test]
fn a_refused_schedule_says_why() {
    let err = Schedule::parse("TERM/x", Signal::TERM).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid option: stop schedule \"TERM/x\": each item must be a signal, a number of \
         seconds or forever"
    );
    assert_eq!((err.errno(), err.exit_code()), (None, 3));
    // An empty text is one empty item; `forever` alone has no step at all.
    let message = refused("");
    assert!(message.ends_with(": each item must be a signal, a number of seconds or forever"));
    let message = refused("forever");
    assert!(message.ends_with(": empty"), "{message}");
    // A control character is shown as its code, so it cannot hide or break the line.
    let message = refused("TERM/\n5");
    assert!(message.contains("\"TERM/\\x0a5\""), "{message}");
}

/// Items are exact: `forever` in lower case, numbers in decimal, signals by name or
/// `-NUMBER` (`-0` is no signal); leading zeros are only zeros.
#[test]
fn schedule_items_are_exact() {
    for text in [
        "FOREVER/TERM/5",
        "Forever/TERM/5",
        "-0/5",
        "TERM/0x10",
        "TERM/1e3",
    ] {
        refused(text);
    }
    assert_eq!(parse("TERM/007").steps(), [sig(Signal::TERM), wait(7)]);
    assert_eq!(parse("-31/1").steps(), [sig(Signal::SYS), wait(1)]);
    // The largest wait there is.
    let max = format!("TERM/{}", u64::MAX);
    assert_eq!(parse(&max).steps(), [sig(Signal::TERM), wait(u64::MAX)]);
}

#[test]
fn forever_needs_a_wait_to_repeat() {
    refused("forever");
    refused("TERM/forever");
    refused("TERM/5/forever");
    let message = refused("TERM/5/forever/KILL");
    assert!(
        message.contains("forever must repeat at least one wait"),
        "{message}"
    );
    let message = refused("TERM/forever/1/forever/KILL/1");
    assert!(message.contains("forever appears twice"), "{message}");
}

/// At most 16 steps (`forever` is not one).
#[test]
fn schedule_length_limit() {
    let items = |n: usize| vec!["TERM/1"; n / 2].join("/");
    assert_eq!(parse(&items(16)).steps().len(), 16);
    assert_eq!(parse(&format!("forever/{}", items(16))).steps().len(), 16);
    let text = format!("{}/KILL", items(16));
    assert_eq!(
        refused(&text),
        format!("invalid option: stop schedule \"{text}\": too long")
    );
    // A text longer than a message shows keeps its start and end; the reason stays.
    let long = format!("{}/KILL", vec!["TERM/1"; 30].join("/"));
    let message = refused(&long);
    assert!(
        message.starts_with("invalid option: stop schedule \"TERM/1/")
            && message.contains("...")
            && message.ends_with("/TERM/1/KILL\": too long"),
        "{message}"
    );
}

/// `Schedule::signal`: one signal, no wait (start-stop-daemon `--stop` alone).
#[test]
fn signal_only_schedule() {
    assert_eq!(Schedule::signal(Signal::HUP).steps(), [sig(Signal::HUP)]);
    assert_eq!(Schedule::signal(Signal::TERM), parse("TERM"));
}

/// Linux's signals as `kill -l` lists them, 1 to 31.
const KILL_L: [(&str, i32); 31] = [
    ("HUP", 1),
    ("INT", 2),
    ("QUIT", 3),
    ("ILL", 4),
    ("TRAP", 5),
    ("ABRT", 6),
    ("BUS", 7),
    ("FPE", 8),
    ("KILL", 9),
    ("USR1", 10),
    ("SEGV", 11),
    ("USR2", 12),
    ("PIPE", 13),
    ("ALRM", 14),
    ("TERM", 15),
    ("STKFLT", 16),
    ("CHLD", 17),
    ("CONT", 18),
    ("STOP", 19),
    ("TSTP", 20),
    ("TTIN", 21),
    ("TTOU", 22),
    ("URG", 23),
    ("XCPU", 24),
    ("XFSZ", 25),
    ("VTALRM", 26),
    ("PROF", 27),
    ("WINCH", 28),
    ("IO", 29),
    ("PWR", 30),
    ("SYS", 31),
];

/// Every spelling of a signal parses to it: NAME, SIGNAME, lower case, `-NAME`,
/// `-SIGNAME`, NUMBER, `-NUMBER`.
fn assert_spellings(name: &str, number: i32) {
    let expected = Signal::from_named_raw(number);
    assert!(expected.is_some(), "{number}");
    let lower = name.to_ascii_lowercase();
    for text in [
        name.to_owned(),
        format!("SIG{name}"),
        lower.clone(),
        format!("sig{lower}"),
        format!("-{name}"),
        format!("-SIG{name}"),
        number.to_string(),
        format!("-{number}"),
    ] {
        assert_eq!(parse_signal(&text), expected, "{text:?}");
    }
}

#[test]
fn parse_signal_names_and_numbers() {
    for (name, number) in KILL_L.iter().filter(|(name, _)| *name != "SYS") {
        assert_spellings(name, *number);
    }
}

/// SIGSYS (31) is in `kill -l` like the others: its name must parse as its number does.
#[test]
fn parse_signal_knows_sys() {
    assert_spellings("SYS", 31);
}

#[test]
fn parse_signal_rejects() {
    for text in [
        "",
        "-",
        "--15",
        "SIG",
        "-SIG",
        "NOPE",
        "SIGNOPE",
        "SIGSIGTERM",
        "TERM ",
        " TERM",
        "TERM1",
        "T",
        "SIGTER",
        "0",
        "-0",
        "65",
        "100",
        "2147483648",
    ] {
        assert_eq!(parse_signal(text), None, "{text:?}");
    }
}

#[test]
fn stopped_exit_codes() {
    let pid = Pid::from_raw(4242).unwrap();
    assert_eq!(Stopped::Exited { pid }.exit_code(), 0);
    assert_eq!(Stopped::Signalled { pid }.exit_code(), 0);
    assert_eq!(Stopped::NotRunning.exit_code(), 1);
    assert_eq!(Stopped::StillRunning { pid }.exit_code(), 2);
}

#[test]
fn status_exit_codes() {
    let pid = Pid::from_raw(4242);
    assert_eq!(Status::Running { pid, runs: None }.exit_code(), 0);
    assert_eq!(
        Status::Running {
            pid: None,
            runs: None
        }
        .exit_code(),
        0
    );
    assert_eq!(Status::Stale { pid }.exit_code(), 1);
    assert_eq!(Status::NotRunning.exit_code(), 3);
    let error = Schedule::parse("", Signal::TERM).unwrap_err();
    assert_eq!(Status::Unknown(error).exit_code(), 4);
}

/// A path with a NUL names no file: `status` cannot tell (Unknown, 4), `stop` refuses
/// it, both before touching the file system.
#[test]
fn status_and_stop_refuse_a_nul_in_the_path() {
    let message = "invalid option: pidfile path contains a NUL byte";
    match status("/run/app\0.pid") {
        Status::Unknown(e) => {
            assert_eq!(e.kind(), ErrorKind::InvalidOption);
            assert_eq!(e.to_string(), message);
        }
        other => panic!("status of a path with a NUL: {other:?}"),
    }
    let err = stop("/run/app\0.pid", &Schedule::signal(Signal::TERM)).unwrap_err();
    assert_eq!((err.kind(), err.exit_code()), (ErrorKind::InvalidOption, 3));
    assert_eq!(err.to_string(), message);
}
