#!/usr/bin/env python3
"""A stand-in for systemd's side of sd_notify, for the fast tests: a unix
datagram socket (NOTIFY_SOCKET) whose messages are written to LOG, one line each
with a monotonic timestamp; a file-descriptor store (FDSTORE=1/FDNAME=,
FDSTOREREMOVE=1) whose descriptors are passed to the next start (LISTEN_FDS,
LISTEN_FDNAMES, LISTEN_PID), and Restart=always: when the command exits, however
it ended, it is started again after 100 ms. The current pid is in DIR/pid. SIGTERM
stops the command and then this.

usage: fake_systemd.py DIR WATCHDOG_USEC -- CMD...
On READY=1 it runs DIR/on-ready (if it exists) and appends its output to DIR/on-ready.out.
"""
import array, os, signal, socket, subprocess, sys, time

d, watchdog_usec = sys.argv[1], sys.argv[2]
cmd = sys.argv[sys.argv.index("--") + 1:]
path = os.path.join(d, "notify.sock")
log = open(os.path.join(d, "log"), "a", buffering=1)
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
try:
    os.unlink(path)
except FileNotFoundError:
    pass
sock.bind(path)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
store = {}  # name -> [fd]
child = None
stopping = False


def start():
    global child
    names, fds = [], []
    for name, lst in store.items():
        for fd in lst:
            names.append(name)
            fds.append(fd)
    env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC=watchdog_usec)
    if fds:
        env.update(LISTEN_FDS=str(len(fds)), LISTEN_FDNAMES=":".join(names))

    def place():
        # Move the stored descriptors to 3, 4, ... (via high numbers, so none is overwritten).
        high = [os.dup(fd) for fd in fds]
        for i, fd in enumerate(high):
            os.dup2(fd, 3 + i, inheritable=True)
        for fd in high:
            os.close(fd)

    argv = ["sh", "-c", 'LISTEN_PID=$$ exec "$@"' if fds else 'exec "$@"', "sh"] + cmd
    # setsid: a kill of the test's own process group leaves the daemon to us.
    child = subprocess.Popen(argv, env=env, preexec_fn=lambda: (os.setsid(), place()),
                             close_fds=False, stdout=open(os.path.join(d, "daemon.log"), "a"),
                             stderr=subprocess.STDOUT)
    open(os.path.join(d, "pid"), "w").write(str(child.pid))
    log.write(f"{time.monotonic():.6f} START pid={child.pid} fds={len(fds)}\n")


def term(*_):
    global stopping
    stopping = True
    if child:
        child.terminate()


signal.signal(signal.SIGTERM, term)
start()
sock.settimeout(0.05)
while True:
    if child.poll() is not None:
        log.write(f"{time.monotonic():.6f} EXIT code={child.returncode}\n")
        if stopping:
            break
        time.sleep(0.1)
        start()
    try:
        msg, fds, _flags, _addr = socket.recv_fds(sock, 65536, 1024)
    except socket.timeout:
        continue
    except InterruptedError:
        continue
    now = time.monotonic()
    text = msg.decode(errors="replace")
    fields = dict(l.split("=", 1) for l in text.splitlines() if "=" in l)
    for line in text.splitlines():
        log.write(f"{now:.6f} {line}\n")
    if fields.get("FDSTORE") == "1":
        store.setdefault(fields.get("FDNAME", "stored"), []).extend(fds)
        log.write(f"{now:.6f} STORED {fields.get('FDNAME')} {len(fds)}\n")
    elif fds:
        for fd in fds:
            os.close(fd)
    if fields.get("FDSTOREREMOVE") == "1":
        for fd in store.pop(fields.get("FDNAME", ""), []):
            os.close(fd)
    if fields.get("READY") == "1":
        hook = os.path.join(d, "on-ready")
        if os.path.exists(hook):
            out = subprocess.run(["sh", hook], capture_output=True, text=True)
            with open(os.path.join(d, "on-ready.out"), "a") as f:
                f.write(out.stdout + out.stderr)
        log.write(f"{time.monotonic():.6f} READY-HOOK-DONE\n")
