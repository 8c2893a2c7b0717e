/* The classic hand-rolled daemon: double fork, setsid, chdir("/"), umask, stdio to
 * /dev/null, and a pidfile opened and flock'ed before the first fork (so a second
 * instance is refused by the original process), written by the daemon.
 * It does less than daemonic: the original process exits at once without learning
 * whether the daemon got ready, no descriptor is closed, no signal is reset.
 * Built with `musl-gcc -Os -static -s`. Usage: c-double-fork PIDFILE */
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs("usage: c-double-fork PIDFILE\n", stderr);
        return 2;
    }
    int pidfd = open(argv[1], O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (pidfd < 0 || flock(pidfd, LOCK_EX | LOCK_NB) < 0) {
        perror(argv[1]);
        return 1;
    }
    pid_t pid = fork();
    if (pid < 0)
        return 1;
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
    if (ftruncate(pidfd, 0) < 0 || dprintf(pidfd, "%d\n", (int)getpid()) < 0)
        _exit(1);
    for (;;)
        sleep(3600);
}
