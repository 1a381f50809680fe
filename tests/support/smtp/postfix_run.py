"""Keeper of one Postfix instance for plb's tests (started by postfix.ts).

    postfix_run.py CONFIG_DIR [INSTANCE_DIR]

Becomes a child subreaper (so Postfix's master, which daemonizes, and every
process it leaves behind are reaped here, not left as zombies), runs
`postfix -c CONFIG_DIR start`, prints one JSON line {"event": "ready",
"masterPid": N} (or {"event": "error", "output": ...} and exits 1), then reaps
children until its stdin closes or it gets SIGTERM. Then it stops the instance
(SIGTERM to the master's process group, SIGKILL after 5 s) and exits once
every descendant is gone; when stdin closed (the test process died), it also
removes INSTANCE_DIR.
"""

import ctypes
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time

PR_SET_CHILD_SUBREAPER = 36


def reap(block=False):
    """Reap what has exited; returns False when no child is left."""
    while True:
        try:
            pid, _ = os.waitpid(-1, 0 if block else os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True
        if block:
            return True


def my_children():
    me = str(os.getpid())
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if fields[1] == me:
                out.append(int(d))
        except (OSError, IndexError):
            pass
    return out


def main():
    config = sys.argv[1]
    remove_dir = sys.argv[2] if len(sys.argv) > 2 else None
    orphaned = threading.Event()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.stderr.write("warning: prctl(PR_SET_CHILD_SUBREAPER) failed\n")

    # Bun raises the open-file limit to its maximum; Postfix closes every
    # descriptor up to it (1.5 s at a million): give Postfix a normal one.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft == resource.RLIM_INFINITY or soft > want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    r = subprocess.run(["postfix", "-c", config, "start"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        sys.stdout.write(json.dumps({"event": "error", "output": r.stdout.decode("utf-8", "replace")}) + "\n")
        sys.stdout.flush()
        sys.exit(1)
    queue = subprocess.run(["postconf", "-c", config, "-h", "queue_directory"], stdout=subprocess.PIPE).stdout.decode().strip()
    with open(os.path.join(queue, "pid", "master.pid")) as f:
        master = int(f.read().split()[0])
    sys.stdout.write(json.dumps({"event": "ready", "masterPid": master}) + "\n")
    sys.stdout.flush()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def watch_stdin():
        try:
            while sys.stdin.buffer.read(65536):
                pass
        except Exception:
            pass
        orphaned.set()
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    while not stop.wait(0.1):
        reap()

    # Stop: what `postfix stop` does (SIGTERM to the master), then make sure.
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(master, sig)
        except ProcessLookupError:
            pass
        deadline = time.time() + wait
        while time.time() < deadline:
            if not reap() and not my_children():
                if orphaned.is_set() and remove_dir:
                    # The test process is gone: nobody will read the log or
                    # the messages, so remove the instance's files too.
                    shutil.rmtree(remove_dir, ignore_errors=True)
                return
            time.sleep(0.02)
        for pid in my_children():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    # Not a normal exit: the stdin thread may hold stdin's lock, which makes
    # interpreter shutdown hang for a second.
    os._exit(0)
