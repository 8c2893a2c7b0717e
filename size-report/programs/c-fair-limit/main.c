/* The fair limit for daemonic's minimal start (examples/no_std_daemon): the same
 * steps, in C, with nothing else, so that its time and size are what that job costs
 * at best. Before the first fork: the pidfile opened O_CREAT|O_NOFOLLOW|O_CLOEXEC
 * mode 0600 and flock'ed (a second instance is refused here), /dev/null opened, a
 * readiness pipe. Then fork, setsid, fork. The launcher reaps the intermediate
 * process and exits 0 only when the daemon has written its ready byte (1 on EOF:
 * the daemon died first). The daemon resets every signal to its default (then
 * ignores SIGTSTP, SIGTTIN, SIGTTOU, as daemonic's default map does), clears the
 * mask, chdir("/"), umask(022), RLIMIT_CORE 0, writes its PID, points stdio at
 * /dev/null, closes every other descriptor but the pidfile and the pipe with the
 * raw close_range syscall (musl has no wrapper), then reports ready and sleeps.
 * Built with the size profile (see xtask/src/profile.rs).
 * Usage: c-fair-limit PIDFILE */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int fail(const char *what)
{
    write(2, "c-fair-limit: cannot ", 21);
    write(2, what, strlen(what));
    write(2, "\n", 1);
    return 1;
}

/* Truncates the pidfile and writes "<pid>\n" at its start. */
static int write_pid(int fd)
{
    char buf[16];
    char *p = buf + sizeof buf;
    unsigned pid = (unsigned)getpid();
    *--p = '\n';
    do
        *--p = (char)('0' + pid % 10);
    while (pid /= 10);
    size_t len = (size_t)(buf + sizeof buf - p);
    return ftruncate(fd, 0) == 0 && pwrite(fd, p, len, 0) == (ssize_t)len ? 0 : -1;
}

/* close_range over the gaps around the two kept descriptors a < b (both > 2). */
static int close_others(unsigned a, unsigned b)
{
    if (a > 3 && syscall(SYS_close_range, 3u, a - 1, 0u) < 0)
        return -1;
    if (b > a + 1 && syscall(SYS_close_range, a + 1, b - 1, 0u) < 0)
        return -1;
    return syscall(SYS_close_range, b + 1, ~0u, 0u) < 0 ? -1 : 0;
}

static void daemon_steps(int pidfd, int null, int ready)
{
    struct sigaction dfl = {.sa_handler = SIG_DFL}, ign = {.sa_handler = SIG_IGN};
    for (int sig = 1; sig < _NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &dfl, 0);
    sigaction(SIGTSTP, &ign, 0);
    sigaction(SIGTTIN, &ign, 0);
    sigaction(SIGTTOU, &ign, 0);
    sigset_t none;
    sigemptyset(&none);
    struct rlimit core = {0, 0};
    if (sigprocmask(SIG_SETMASK, &none, 0) < 0 || chdir("/") < 0)
        _exit(1);
    umask(022);
    if (setrlimit(RLIMIT_CORE, &core) < 0 || write_pid(pidfd) < 0)
        _exit(1);
    if (dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
        _exit(1);
    unsigned a = (unsigned)(pidfd < ready ? pidfd : ready);
    unsigned b = (unsigned)(pidfd < ready ? ready : pidfd);
    if (close_others(a, b) < 0 || write(ready, "", 1) != 1)
        _exit(1);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return fail("run without a PIDFILE argument");
    int pidfd = open(argv[1], O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (pidfd < 0)
        return fail("open the pidfile");
    if (flock(pidfd, LOCK_EX | LOCK_NB) < 0)
        return fail("lock the pidfile: already running");
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    int pipe_fds[2];
    if (null < 0 || pipe2(pipe_fds, O_CLOEXEC) < 0)
        return fail("open /dev/null or create the readiness pipe");
    pid_t pid = fork();
    if (pid < 0)
        return fail("fork");
    if (pid > 0) {
        /* The launcher: reap the intermediate process, then wait for the byte. */
        char byte;
        close(pipe_fds[1]);
        waitpid(pid, 0, 0);
        return read(pipe_fds[0], &byte, 1) == 1 ? 0 : fail("start: the daemon died");
    }
    close(pipe_fds[0]);
    if (setsid() < 0)
        _exit(1);
    pid = fork();
    if (pid != 0)
        _exit(pid < 0);
    daemon_steps(pidfd, null, pipe_fds[1]);
    for (;;)
        sleep(3600);
}
