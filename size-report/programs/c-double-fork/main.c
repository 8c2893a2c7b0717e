/* The classic hand-rolled daemon, written the way a size-conscious C programmer
 * would (no stdio: the PID is formatted by hand): double fork, setsid, chdir("/"),
 * umask, stdio to /dev/null, and a pidfile opened and flock'ed before the first fork
 * (so a second instance is refused by the original process), written by the daemon.
 * It does less than daemonic: the original process exits at once without learning
 * whether the daemon got ready, errors are one fixed line, no descriptor is closed,
 * no signal is reset. Built with `musl-gcc -Os -static -s`.
 * Usage: c-double-fork PIDFILE */
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(const char *what)
{
    write(2, "c-double-fork: cannot ", 22);
    write(2, what, strlen(what));
    write(2, "\n", 1);
    return 1;
}

/* Truncates the pidfile and writes "<pid>\n" into it. */
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
    return ftruncate(fd, 0) == 0 && write(fd, p, len) == (ssize_t)len ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return fail("run without a PIDFILE argument");
    int pidfd = open(argv[1], O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (pidfd < 0 || flock(pidfd, LOCK_EX | LOCK_NB) < 0)
        return fail("open and lock the pidfile");
    pid_t pid = fork();
    if (pid < 0)
        return fail("fork");
    if (pid > 0)
        _exit(0);
    if (setsid() < 0)
        _exit(1);
    pid = fork();
    if (pid < 0)
        _exit(1);
    if (pid > 0)
        _exit(0);
    /* The daemon. */
    if (chdir("/") < 0)
        _exit(1);
    umask(022);
    int null = open("/dev/null", O_RDWR);
    if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
        _exit(1);
    if (null > 2)
        close(null);
    if (write_pid(pidfd) < 0)
        _exit(1);
    for (;;)
        sleep(3600);
}
