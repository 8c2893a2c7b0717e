//! The help text, stored with each run of spaces (its columns) as one byte, made at
//! compile time and expanded as it is written: 4 KiB of text, a tenth of it spaces.

const HELP: &str = "\
Usage: daemonic start [OPTIONS] [--pidfile P] -- PROGRAM [ARGS...]
       daemonic stop --pidfile P [--signal SIG] [--retry SCHEDULE] [--oknodo] [--quiet]
       daemonic status --pidfile P [--quiet]
       daemonic restart [OPTIONS] --pidfile P [--signal SIG] [--retry SCHEDULE] -- PROGRAM [ARGS...]

start runs PROGRAM as a daemon and exits once it runs (or is ready), else says why and
leaves nothing running. The pidfile is locked before the fork and stays locked while
PROGRAM runs: PROGRAM inherits it (fd in DAEMONIC_PIDFILE_FD) and must not close it.
PROGRAM is found as execvp(3) finds it, inside --chroot, from --chdir, as --user.
With --supervise, daemonic stays as PROGRAM's monitor instead: it holds the lock
(the pidfile names it), forwards signals (TERM INT HUP QUIT USR1 USR2 ALRM VTALRM
PROF WINCH URG IO PWR), reaps what PROGRAM leaves, restarts it, and exits with its
status (128+N after signal N).
--opt=VALUE works too.

Start options:
  --pidfile P          create, check and lock P; write the PID into it
  --user USER[:GROUP]  run as USER (name or uid) with its groups
  --group GROUP        run as GROUP (name or gid), no supplementary groups
  --chdir DIR          working directory (default /; inside --chroot)
  --chroot DIR         change the root directory first
  --umask MASK         octal umask (default: the caller's)
  --keep-core-limit    leave the core dump limit as it is (default 0: no dumps)
  --stdout FILE        append stdout to FILE (opened as --user), or `inherit` it
                       (default: /dev/null detached, inherited in the foreground);
                       /dev/stdout, /dev/stderr, /dev/fd/N: the command's own
  --stderr FILE        the same for stderr (--stdout's FILE: the same descriptor)
  --env NAME=VALUE     set a variable (repeatable; the last of a name wins)
  --clear-env          pass only the --env variables and a safe PATH
  --foreground         do not fork; --detach: fork (default)
  --auto               foreground under init or inetd, or as PID 1
  --keep-fd N          pass descriptor N, above 2 (repeatable)
  --notify-fd N        ready when PROGRAM writes a newline to its fd N (s6)
  --notify-socket      ready when PROGRAM sends READY=1 to its NOTIFY_SOCKET (ERRNO=
                       fails, EXTEND_TIMEOUT_USEC= extends; 60 s unless --timeout)
  --timeout SECS       with --notify-*: kill PROGRAM if not ready within SECS
  --supervise          run PROGRAM under a resident monitor (see above); after a
                       stop signal it ends what PROGRAM left, then exits; it awaits
                       --notify-* at every run; status shows its restarts
  --restart WHEN       with --supervise: never (default), on-failure, always
  --restart-delay SECS first pause before a restart (default 1); doubles after
                       runs under 10 s, up to 60 s
  --forward-to-group   with --supervise: signals to PROGRAM's process group
  --log-file FILE      with --supervise: PROGRAM's stdout and stderr through the
                       monitor, appended to FILE (opened as --user); SIGHUP reopens it
                       (and is then not forwarded)
  --log-max-size SIZE  with --log-file: at SIZE bytes (k, M, G: KiB, MiB, GiB) FILE
                       is renamed FILE.1, replacing the last, and a new FILE started
  --syslog TAG         with --supervise: PROGRAM's lines to /dev/log as TAG[PID],
                       severity notice; --syslog-facility: daemon (default), user,
                       local0 to local7
  --oknodo             exit 0 if already running (start) or not running (stop)
  --quiet              print errors only
Stop options:
  --signal SIG         signal to send (default TERM)
  --retry SCHEDULE     e.g. TERM/30/KILL/5 (N: SIG/N/KILL/N; forever repeats the
                       rest); default: signal only, or TERM/30/KILL/5 for restart

Exit status of start, stop and restart (as start-stop-daemon):
  0  done (or nothing to do, with --oknodo)
  1  nothing done: already running (start) or not running (stop)
  2  stop: the --retry schedule ran out and the daemon still runs
  3  any other error, usage errors included
Exit status of status (LSB):
  0  running  1  not running, stale pidfile  3  not running
  4  unknown (pidfile unreadable, insecure, malformed or locked by a stranger;
     usage errors)
";

/// A run of `n` spaces (2 to 127) is the byte `0x80 + n`; the text is ASCII, so no
/// byte of it is taken for one.
const RUN: u8 = 0x80;

/// The packed byte for the text at `i`, and how many of its bytes it stands for: a
/// run of two to 127 spaces, or the byte itself.
const fn token(text: &[u8], i: usize) -> (u8, usize) {
    assert!(text[i] < RUN, "the help text is ASCII");
    let mut n = 0;
    while i + n < text.len() && text[i + n] == b' ' && n < 127 {
        n += 1;
    }
    if n >= 2 {
        (RUN + n as u8, n)
    } else {
        (text[i], 1)
    }
}

/// The length of `text` packed.
const fn packed_len(text: &[u8]) -> usize {
    let (mut i, mut len) = (0, 0);
    while i < text.len() {
        i += token(text, i).1;
        len += 1;
    }
    len
}

const fn pack<const N: usize>(text: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    let (mut i, mut o) = (0, 0);
    while i < text.len() {
        let (byte, n) = token(text, i);
        out[o] = byte;
        i += n;
        o += 1;
    }
    out
}

const PACKED: [u8; packed_len(HELP.as_bytes())] = pack(HELP.as_bytes());

/// Expands `packed` into `out`; returns the length.
fn unpack(packed: &[u8], out: &mut [u8]) -> usize {
    let mut len = 0;
    for &b in packed {
        let (byte, n) = match b.checked_sub(RUN) {
            Some(n) => (b' ', usize::from(n)),
            None => (b, 1),
        };
        out[len..len + n].fill(byte);
        len += n;
    }
    len
}

/// Writes the help text to `fd`, in one `write`. Not inlined: its 4 KiB buffer must
/// not be in `main`'s frame, under which the monitor runs for the service's life.
#[inline(never)]
pub fn write(fd: i32) {
    let mut text = [0u8; HELP.len()];
    let len = unpack(&PACKED, &mut text);
    crate::out::write_all(fd, &text[..len]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_help_text_comes_back_whole() {
        let mut text = [0u8; HELP.len()];
        let len = unpack(&PACKED, &mut text);
        assert_eq!(&text[..len], HELP.as_bytes());
        assert!(
            PACKED.len() < HELP.len() * 9 / 10,
            "{} of {}",
            PACKED.len(),
            HELP.len()
        );
        const SAMPLE: &[u8] = b"a  b c      d \n";
        let packed: [u8; packed_len(SAMPLE)] = pack(SAMPLE);
        assert_eq!(
            packed,
            [b'a', RUN + 2, b'b', b' ', b'c', RUN + 6, b'd', b' ', b'\n']
        );
    }
}
