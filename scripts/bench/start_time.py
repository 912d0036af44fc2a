#!/usr/bin/env python3
"""One rep of the start benchmark, inside a fresh sandbox (scripts/bench-start.sh).

Makes NETS networks and N containers (`ip netns add` namespaces attached over the
API, spread over the networks), stops netctld, then starts it REPS times in each
of three ways and times, from the exec of netctld:
- plain: no service manager; time to the first answered API call (GET /v1/version);
- notify: NOTIFY_SOCKET of our own, no stored sockets (a first start under systemd);
  time to READY=1 and to the first answered API call;
- fdstore: as systemd does after a restart: the sockets the daemon stored
  (FDSTORE=1) are passed back (LISTEN_FDS/LISTEN_FDNAMES); the same two times.
Each start ends with SIGTERM. Prints one JSON line.

usage: start_time.py NETCTLD N NETS REPS
"""
import json, os, socket, subprocess, sys, time

sys.path.insert(0, os.path.dirname(__file__))
from netctl_attach import UnixHTTPConnection, SOCK, call  # noqa: E402

netctld, N, NETS, REPS = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
NOTIFY = "/run/bench-notify.sock"


def api_up(deadline):
    while time.monotonic() < deadline:
        try:
            conn = UnixHTTPConnection(SOCK)
            call(conn, "GET", "/v1/version")
            return True
        except (OSError, SystemExit, Exception):
            time.sleep(0.001)
    return False


def start(notify, fds=None, names=None):
    env = dict(os.environ)
    env.pop("NOTIFY_SOCKET", None)
    sock = None
    if notify:
        try:
            os.unlink(NOTIFY)
        except FileNotFoundError:
            pass
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(NOTIFY)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        env["NOTIFY_SOCKET"] = NOTIFY
    argv = [netctld] + os.environ.get("NETCTLD_FLAGS", "").split()
    pre = None
    if fds:
        env.update(LISTEN_FDS=str(len(fds)), LISTEN_FDNAMES=":".join(names))
        argv = ["sh", "-c", 'LISTEN_PID=$$ exec "$@"', "sh"] + argv

        def pre():
            high = [os.dup(fd) for fd in fds]
            for i, fd in enumerate(high):
                os.dup2(fd, 3 + i, inheritable=True)
            for fd in high:
                os.close(fd)
    t0 = time.monotonic()
    p = subprocess.Popen(argv, env=env, preexec_fn=pre, close_fds=not fds,
                         stdout=subprocess.DEVNULL, stderr=open(os.environ.get("BENCH_LOG", "/run/netctld-bench.log"), "a"))
    return p, sock, t0


def wait_ready(sock, store, t0):
    """Reads notifications until READY=1; FDSTORE=1 messages fill `store`."""
    sock.settimeout(60)
    while True:
        msg, fds, _, _ = socket.recv_fds(sock, 65536, 16)
        fields = dict(l.split("=", 1) for l in msg.decode().splitlines() if "=" in l)
        if fields.get("FDSTORE") == "1":
            store.setdefault(fields["FDNAME"], []).extend(fds)
        else:
            for fd in fds:
                os.close(fd)
        if fields.get("READY") == "1":
            return (time.monotonic() - t0) * 1000


def stop(p, sock=None, store=None):
    p.terminate()
    while p.poll() is None:
        if sock is not None:
            # Keep taking FDSTORE messages until the daemon is gone.
            sock.settimeout(0.05)
            try:
                msg, fds, _, _ = socket.recv_fds(sock, 65536, 16)
                fields = dict(l.split("=", 1) for l in msg.decode().splitlines() if "=" in l)
                if store is not None and fields.get("FDSTORE") == "1":
                    store.setdefault(fields["FDNAME"], []).extend(fds)
            except socket.timeout:
                pass
        else:
            time.sleep(0.01)
    if sock is not None:
        sock.close()


# Set up: the containers, made by a daemon of our own.
p, _, _ = start(False)
assert api_up(time.monotonic() + 20), "netctld did not start"
conn = UnixHTTPConnection(SOCK)
for k in range(NETS):
    call(conn, "POST", "/v1/networks", {"Name": f"net{k}", "IPAM": {"Config": [{"Subnet": f"10.{100 + k}.0.0/16"}]}})
t = time.monotonic()
for i in range(N):
    subprocess.run(["ip", "netns", "add", f"c{i}"], check=True)
    call(conn, "POST", "/v1/containers/attach",
         {"Name": f"c{i}", "NetnsPath": f"/run/netns/c{i}", "Network": f"net{i % NETS}"})
setup_s = time.monotonic() - t
stop(p)

res = {"containers": N, "networks": NETS, "setup_s": round(setup_s, 1), "plain_api_ms": [],
       "notify_ready_ms": [], "notify_api_ms": [], "fdstore_ready_ms": [], "fdstore_api_ms": []}
store = {}
for rep in range(REPS):
    # The last rep's stored sockets are closed first: a daemon without a service
    # manager binds its ports again, which a held socket would keep busy.
    for fd_list in store.values():
        for fd in fd_list:
            os.close(fd)
    store = {}
    p, _, t0 = start(False)
    assert api_up(time.monotonic() + 60)
    res["plain_api_ms"].append(round((time.monotonic() - t0) * 1000, 1))
    stop(p)

    p, sock, t0 = start(True)
    res["notify_ready_ms"].append(round(wait_ready(sock, store, t0), 1))
    assert api_up(time.monotonic() + 60)
    res["notify_api_ms"].append(round((time.monotonic() - t0) * 1000, 1))
    stop(p, sock, store)

    names, fds = [], []
    for name, lst in store.items():
        for fd in lst:
            names.append(name)
            fds.append(fd)
    p, sock, t0 = start(True, fds, names)
    res["fdstore_ready_ms"].append(round(wait_ready(sock, {}, t0), 1))
    assert api_up(time.monotonic() + 60)
    res["fdstore_api_ms"].append(round((time.monotonic() - t0) * 1000, 1))
    res["stored_fds"] = len(fds)
    stop(p, sock)
print(json.dumps(res))
