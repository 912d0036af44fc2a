#!/usr/bin/env python3
"""Asks 127.0.0.11 for NAMES (A records) in a loop, one question at a time, as a
stub resolver does: each question waits up to TIMEOUT seconds for its answer and is
then asked again (a fresh id), up to TRIES times. Runs until the file STOP exists,
then prints one JSON line: questions, answered right, wrong answers by rcode (or
"empty"), questions never answered after all tries, and the longest wait for a
right answer in ms.

usage: resolve_loop.py STOP TIMEOUT TRIES NAME...
"""
import json, os, random, socket, struct, sys, time

stop, timeout, tries, names = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
RCODES = {1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def query(name, qid):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00\x00\x01\x00\x01"


s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect(("127.0.0.11", 53))
stats = {"questions": 0, "right": 0, "wrong": {}, "unanswered": 0, "max_wait_ms": 0, "retries": 0}
i = 0
while not os.path.exists(stop):
    name = names[i % len(names)]
    i += 1
    stats["questions"] += 1
    started = time.monotonic()
    outcome = None
    for attempt in range(tries):
        if attempt:
            stats["retries"] += 1
        qid = random.randrange(65536)
        s.send(query(name, qid))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                data = s.recv(4096)
            except socket.timeout:
                break
            except ConnectionRefusedError:
                outcome = "ECONNREFUSED"
                break
            if len(data) < 12 or struct.unpack(">H", data[:2])[0] != qid:
                continue
            rcode = data[3] & 0x0F
            ancount = struct.unpack(">H", data[6:8])[0]
            if rcode == 0 and ancount > 0:
                outcome = "right"
            else:
                outcome = RCODES.get(rcode, "empty" if rcode == 0 else f"rcode{rcode}")
            break
        if outcome is not None:
            break
    if outcome == "right":
        stats["right"] += 1
        stats["max_wait_ms"] = max(stats["max_wait_ms"], round((time.monotonic() - started) * 1000))
    elif outcome is None:
        stats["unanswered"] += 1
    else:
        stats["wrong"][outcome] = stats["wrong"].get(outcome, 0) + 1
    time.sleep(0.005)
print(json.dumps(stats))
