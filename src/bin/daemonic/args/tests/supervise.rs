//! Unit tests of the `--supervise` options and their checks.

use super::*;
use daemonic::{Facility, Restart};

#[test]
fn supervise_takes_a_restart_policy_and_a_first_pause() {
    let args = start(&[
        "--supervise",
        "--restart",
        "on-failure",
        "--restart-delay=0.25",
    ]);
    with(&strs(&args), |r| {
        let o = r.unwrap();
        assert!(o.supervise);
        assert_eq!(o.restart, Some(Restart::OnFailure));
        assert_eq!(o.restart_delay, Some(Duration::from_millis(250)));
    });
    for (value, restart) in [("never", Restart::Never), ("always", Restart::Always)] {
        let args = start(&["--supervise", "--restart", value]);
        with(&strs(&args), |r| {
            assert_eq!(r.unwrap().restart, Some(restart))
        });
    }
    let (what, arg) = error(&strs(&start(&["--supervise", "--restart", "sometimes"])));
    assert!(
        what.starts_with("--restart takes never, on-failure or always"),
        "{what}"
    );
    assert_eq!(arg.as_deref(), Some("sometimes"));
    let (what, _) = error(&strs(&start(&["--supervise", "--restart-delay", "soon"])));
    assert!(what.starts_with("--restart-delay takes seconds"), "{what}");
}

#[test]
fn restart_options_need_supervise_and_supervise_takes_one_readiness() {
    for options in [
        &["--restart", "always"][..],
        &["--restart-delay", "1"],
        &["--log-file", "l"],
        &["--syslog", "app"],
    ] {
        let (what, _) = error(&strs(&start(options)));
        assert_eq!(
            what,
            "--restart, --restart-delay, --log-file and --syslog need --supervise"
        );
    }
    let both = ["--supervise", "--notify-socket", "--notify-fd", "3"];
    let (what, _) = error(&strs(&start(&both)));
    assert_eq!(
        what,
        "--notify-fd and --notify-socket exclude each other with --supervise"
    );
    let (what, _) = error(&strs(&start(&["--forward-to-group"])));
    assert_eq!(what, "--forward-to-group needs --supervise");
    let (what, _) = error(&["stop", "--pidfile", "p", "--supervise"]);
    assert_eq!(what, "option does not apply to this command");
}

#[test]
fn the_log_file_and_syslog_take_both_streams() {
    let args = start(&["--supervise", "--log-file", "/var/log/app.log"]);
    with(&strs(&args), |r| {
        assert_eq!(r.unwrap().log_file, Some(c"/var/log/app.log"))
    });
    for (log, stream) in [("--log-file", "--stdout"), ("--syslog", "--stderr")] {
        let (what, _) = error(&strs(&start(&["--supervise", log, "l", stream, "f"])));
        assert!(
            what.starts_with("--log-file and --syslog take PROGRAM's stdout and stderr"),
            "{what}"
        );
    }
    let (what, _) = error(&strs(&start(&["--supervise", "--log-file="])));
    assert_eq!(what, "empty value for");
}

#[test]
fn the_log_size_cap_takes_bytes_with_a_unit() {
    for (given, bytes) in [
        ("1", 1),
        ("4096", 4096),
        ("64k", 64 << 10),
        ("10M", 10 << 20),
        ("2G", 2 << 30),
    ] {
        let args = start(&["--supervise", "--log-file", "l", "--log-max-size", given]);
        with(&strs(&args), |r| {
            assert_eq!(r.unwrap().log_max_size, Some(bytes), "{given}")
        });
    }
    for bad in [
        "0",
        "0k",
        "k",
        "",
        "1.5M",
        "10m",
        "-1",
        "1kb",
        "20000000000G",
    ] {
        let args = start(&["--supervise", "--log-file", "l", "--log-max-size", bad]);
        let (what, value) = error(&strs(&args));
        assert!(
            what.starts_with("--log-max-size takes bytes above 0"),
            "{bad}: {what}"
        );
        assert_eq!(value.as_deref(), Some(bad));
    }
    let alone = start(&["--supervise", "--log-max-size", "1M"]);
    assert_eq!(error(&strs(&alone)).0, "--log-max-size needs --log-file");
    let syslog = start(&["--supervise", "--syslog", "app", "--log-max-size", "1M"]);
    assert_eq!(error(&strs(&syslog)).0, "--log-max-size needs --log-file");
}

#[test]
fn syslog_takes_a_tag_and_a_facility() {
    let args = start(&[
        "--supervise",
        "--syslog",
        "app",
        "--syslog-facility",
        "local3",
    ]);
    with(&strs(&args), |r| {
        let o = r.unwrap();
        assert_eq!(o.syslog, Some("app"));
        assert_eq!(o.syslog_facility, Some(Facility::Local3));
    });
    let both = start(&["--supervise", "--syslog", "app", "--log-file", "l"]);
    assert_eq!(
        error(&strs(&both)).0,
        "--log-file and --syslog exclude each other"
    );
    let alone = start(&["--supervise", "--syslog-facility", "user"]);
    assert_eq!(error(&strs(&alone)).0, "--syslog-facility needs --syslog");
    let bad = start(&[
        "--supervise",
        "--syslog",
        "app",
        "--syslog-facility",
        "kern",
    ]);
    let (what, arg) = error(&strs(&bad));
    assert!(
        what.starts_with("--syslog-facility takes user, daemon"),
        "{what}"
    );
    assert_eq!(arg.as_deref(), Some("kern"));
}
