#!/usr/bin/env python3
"""One run of the restart benchmark, inside a fresh sandbox (scripts/bench-restart.sh).

Makes N containers (`ip netns add`, attached over the API) on one network; five of
them ask for the others' names in a loop (tests/restarts/resolve_loop.py: one
question at a time, 1 s timeout, 5 tries, as a stub resolver); netctld is
restarted CYCLES times with SIGTERM and CYCLES times with kill -9, 1 s apart:
first with no service manager, then under tests/restarts/fake_systemd.py (an fd
store passed back at each start, as systemd does). Prints one JSON line per mode:
the loops' questions, wrong answers, unanswered questions, questions asked again,
and the longest wait for a right answer (the window a restart costs a question).

usage: restart_window.py NETCTLD N CYCLES
"""
import json, os, subprocess, sys, time

sys.path.insert(0, os.path.dirname(__file__))
from netctl_attach import UnixHTTPConnection, SOCK, call  # noqa: E402

netctld, N, CYCLES = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
repo = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
loop = os.path.join(repo, "tests", "restarts", "resolve_loop.py")
fake = os.path.join(repo, "tests", "restarts", "fake_systemd.py")
askers = sorted({1, N // 4 + 1, N // 2 + 1, 3 * N // 4 + 1, N})


def api_up(deadline=None):
    deadline = deadline or time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            call(UnixHTTPConnection(SOCK), "GET", "/v1/version")
            return True
        except (OSError, SystemExit, Exception):
            time.sleep(0.002)
    return False


def loops_start():
    try:
        os.unlink("/run/stop-loops")
    except FileNotFoundError:
        pass
    names = [f"c{i}" for i in askers] + [f"c{i}" for i in range(1, N + 1, max(1, N // 20))]
    return [subprocess.Popen(["ip", "netns", "exec", f"c{a}", "python3", loop, "/run/stop-loops", "1", "5"] + names,
                             stdout=subprocess.PIPE, text=True) for a in askers]


def loops_stop(procs):
    open("/run/stop-loops", "w").close()
    total = {"questions": 0, "right": 0, "wrong": {}, "unanswered": 0, "retries": 0, "max_wait_ms": 0}
    for p in procs:
        r = json.loads(p.communicate()[0])
        for k in ("questions", "right", "unanswered", "retries"):
            total[k] += r[k]
        for k, v in r["wrong"].items():
            total["wrong"][k] = total["wrong"].get(k, 0) + v
        total["max_wait_ms"] = max(total["max_wait_ms"], r["max_wait_ms"])
    return total


def wait_gone(pid):
    while os.path.exists(f"/proc/{pid}") and open(f"/proc/{pid}/stat").read().split()[2] != "Z":
        time.sleep(0.005)


d = subprocess.Popen([netctld], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
assert api_up()
conn = UnixHTTPConnection(SOCK)
call(conn, "POST", "/v1/networks", {"Name": "n1", "IPAM": {"Config": [{"Subnet": "10.100.0.0/16"}]}})
for i in range(1, N + 1):
    subprocess.run(["ip", "netns", "add", f"c{i}"], check=True)
    call(conn, "POST", "/v1/containers/attach", {"Name": f"c{i}", "NetnsPath": f"/run/netns/c{i}", "Network": "n1"})

# No service manager: SIGTERM and kill -9, each followed by a start.
procs = loops_start()
time.sleep(1)
for sig in ["TERM"] * CYCLES + ["KILL"] * CYCLES:
    d.send_signal(15 if sig == "TERM" else 9)
    d.wait()
    d = subprocess.Popen([netctld], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert api_up()
    time.sleep(1)
plain = loops_stop(procs)
d.terminate()
d.wait()

# Under the fake service manager (fd store, Restart=always after 100 ms).
os.makedirs("/run/fs", exist_ok=True)
fs = subprocess.Popen(["python3", fake, "/run/fs", "0", "--", netctld])
ready = lambda: sum(1 for l in open("/run/fs/log") if l.split(" ", 1)[1].strip() == "READY=1") if os.path.exists("/run/fs/log") else 0
while ready() < 1:
    time.sleep(0.01)
procs = loops_start()
time.sleep(1)
for k, sig in enumerate(["TERM"] * CYCLES + ["KILL"] * CYCLES):
    pid = int(open("/run/fs/pid").read())
    os.kill(pid, 15 if sig == "TERM" else 9)
    while ready() < k + 2:
        time.sleep(0.005)
    time.sleep(1)
managed = loops_stop(procs)
fs.terminate()
fs.wait()
for mode, r in (("no service manager", plain), ("fd store (systemd's protocol)", managed)):
    print(json.dumps(dict(mode=mode, containers=N, restarts=2 * CYCLES, **r)))
