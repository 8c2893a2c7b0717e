#!/bin/bash
# Runs the floor program through its paths; prints what it sees. Needs root (tmpfs).
B=${B:-$(dirname "$0")/../../../target/size-report/out/x86_64-unknown-linux-musl/no_std_floor}
B=$(readlink -f "$B")
T=$(mktemp -d /tmp/floortest.XXXX)
run() { echo "\$ no_std_floor $*"; "$B" "$@"; echo "  -> exit $?"; }
stop() { [ -s "$1" ] && kill "$(cat "$1")" 2>/dev/null; sleep 0.1; }
P=$T/a.pid
echo "== 1. start, pidfile, lock"
run $P; sleep 0.1
D=$(cat $P); echo "  pidfile holds: $(cat $P | od -c | head -1 | cut -c9-)  mode $(stat -c %a $P)"
echo "  daemon $D alive: $(kill -0 $D && echo yes); its sid: $(ps -o sid= -p $D); ppid: $(ps -o ppid= -p $D)"
echo "  /proc/locks: $(grep ":$(stat -c %i $P) " /proc/locks)"
echo "  daemon's fds: $(ls -l /proc/$D/fd | awk 'NR>1{print $9"->"$11}' | tr '\n' ' ')"
echo "  daemon's fdinfo lock: $(grep -h lock: /proc/$D/fdinfo/*)"
echo "== 2. second start refused"
run $P
echo "  pidfile still: $(cat $P), daemon alive: $(kill -0 $D && echo yes)"
stop $P
echo "== 3. stale pidfile (old PID, unlocked, mode 0644): taken over"
printf '99999\n' > $P; chmod 644 $P
run $P; sleep 0.1; echo "  pidfile now: $(cat $P) mode $(stat -c %a $P)"; stop $P
echo "== 4. locked by a process it does not name (flock(1) holds it)"
flock -n $P sleep 3 & sleep 0.2
printf '%s\n' $$ > $P; chmod 600 $P; echo "  file names the test shell $$ (alive, holds no lock):"; run $P
printf '1\n' > $P; echo "  file names pid 1 (/proc/1/fdinfo not readable here: believed):"; run $P
printf '%s\n' $$ > $P; chmod 644 $P; echo "  mode 0644, names $$:"; run $P
printf '' > $P; echo "  mode 0644, empty:"; run $P
kill %1 2>/dev/null; wait 2>/dev/null
echo "== 5. probe retries: a shared lock for 50 ms is waited out, one for 1 s is not"
rm -f $P; : > $P; chmod 600 $P
flock -s $P sleep 0.05 & sleep 0.01; run $P; wait; stop $P
flock -s $P sleep 1 & sleep 0.05; run $P; wait
echo "== 6. insecure pidfiles"
rm -f $P; : > $P; chmod 666 $P; run $P
chmod 620 $P; run $P
chmod 600 $P; printf 'hello\n' > $P; run $P; echo "  untouched: $(cat $P) mode $(stat -c %a $P)"
rm -f $P; ln -s /etc/passwd $P; run $P; rm -f $P
mkdir $P; run $P; rmdir $P
: > $T/x; ln $T/x $P; run $P; rm -f $P $T/x
mkfifo $P; run $P; rm -f $P
run $T/
echo "== 7. errors and escaping"
run $'/tmp/no\xffdir/caf\xc3\xa9\x01.pid'
run /proc/version/x.pid
echo "== 8. a daemon step fails (pwrite ENOSPC on a full tmpfs): killed, created pidfile removed"
mkdir $T/full; mount -t tmpfs -o size=4k tmpfs $T/full
dd if=/dev/zero of=$T/full/fill bs=4k count=2 2>/dev/null
run $T/full/new.pid; echo "  $(ls $T/full/new.pid 2>&1)"
echo "  floor processes left: $(pgrep -c -f "$T/full")"
umount $T/full
echo "== 8b. faults injected with strace (per process: only the daemon calls prlimit64)"
inj() { local what=$1; shift; echo "\$ strace -f --inject=$what no_std_floor $*"; strace -qq -f -o /dev/null --inject=$what "$B" "$@"; echo "  -> exit $?"; }
Q=$T/old.pid; printf '4242\n' > $Q; chmod 640 $Q
inj prlimit64:error=EPERM $Q; echo "  old content and mode back: $(cat $Q) $(stat -c %a $Q); locked: $(grep -c ":$(stat -c %i $Q) " /proc/locks)"
inj prlimit64:signal=SIGKILL $Q; echo "  old content and mode back: $(cat $Q) $(stat -c %a $Q)"
inj setsid:error=EPERM $Q; echo "  old content and mode back: $(cat $Q) $(stat -c %a $Q)"
inj fork:error=EAGAIN:when=1 $T/n.pid; echo "  created file removed: $(ls $T/n.pid 2>&1 | grep -c 'No such')"
inj socketpair:error=EMFILE:when=2 $Q; echo "  old content and mode back: $(cat $Q) $(stat -c %a $Q)"
echo "== 8c. close_range refused: /proc/self/fd walked; then getdents refused too: RLIMIT_NOFILE loop"
for what in close_range:error=ENOSYS close_range,getdents64:error=ENOSYS; do
  rm -f $P; (ulimit -n 64; exec 7</dev/null 9</dev/null; strace -qq -f -o $T/tr --inject=$what "$B" $P & sleep 0.5)
  D=$(cat $P); echo "  [$what] daemon $D fds: $(ls /proc/$D/fd | tr '\n' ' ') pidfile: $D"
  echo "  close calls: $(grep -c ' close(' $T/tr), getdents64: $(grep -c getdents64 $T/tr)"
  stop $P
done
echo "== 9. another user's locked 0600 pidfile (EACCES, /proc/locks says locked)"
chmod 755 $T; rm -f $P
run $P; sleep 0.1
setpriv --reuid=65534 --regid=65534 --clear-groups "$B" $P; echo "  -> exit $? (as nobody)"
stop $P
setpriv --reuid=65534 --regid=65534 --clear-groups "$B" $P; echo "  -> exit $? (as nobody, not locked)"
echo "== 10. relative path"
(cd $T && run rel.pid; sleep 0.1; echo "  $(cat $T/rel.pid); daemon cwd $(readlink /proc/$(cat $T/rel.pid)/cwd); fds $(ls /proc/$(cat $T/rel.pid)/fd | tr '\n' ' ')"; run rel.pid; stop $T/rel.pid)
echo "== 11. default path"
rm -f /tmp/floor.pid; run; sleep 0.1; echo "  /tmp/floor.pid: $(cat /tmp/floor.pid)"; stop /tmp/floor.pid
rm -rf $T
