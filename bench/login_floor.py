#!/usr/bin/env python3
"""The least any IMAP client pays for a run on this server, for bench/bench.sh.

    login_floor.py --port PORT --user USER [--host HOST] [--runs N] [--pause S]

The password comes from the environment (IMAP_PASSWORD), never from the
command line, where other users could read it in the process list.

Each run opens a connection, reads the greeting, logs in (AUTHENTICATE PLAIN
with an initial response, one round trip, as roam does), lists the folders
(LIST "" "*", one round trip) and logs out without waiting for the reply.
That is what a run that finds nothing to do cannot avoid: both tools pay
for it, so a no-change run's ratio cannot go below floor / mbsync's time.
The timer covers the socket work only, not Python's start. Before each run
it sleeps --pause seconds (default 1.2, as bench.sh pauses before each
tool's run): after a pause the server's first answers come slower than
back to back, and the floor must be measured as the tools are.

Prints one line: the median seconds of the runs, then each phase's median
(connect and greeting, login, LIST), e.g.
    0.031 greeting 0.015 login 0.013 list 0.003
Standard library only.
"""

import argparse
import base64
import os
import socket
import statistics
import sys
import time


def read_until_tagged(sock, buf, tag):
    """Reads lines until the one tagged `tag`; returns (line, rest)."""
    while True:
        while b"\r\n" in buf:
            line, buf = buf.split(b"\r\n", 1)
            if line.startswith(tag + b" "):
                if not line[len(tag) + 1:].startswith(b"OK"):
                    raise RuntimeError("the server answered: %r" % line[:200])
                return line, buf
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("the server closed the connection")
        buf += chunk


def one_run(host, port, user, password):
    t0 = time.perf_counter()
    sock = socket.create_connection((host, port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = b""
    while b"\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("the server closed the connection before its greeting")
        buf += chunk
    greeting, buf = buf.split(b"\r\n", 1)
    if not greeting.startswith(b"* OK"):
        raise RuntimeError("unexpected greeting: %r" % greeting[:200])
    t1 = time.perf_counter()
    response = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode())
    sock.sendall(b"a AUTHENTICATE PLAIN " + response + b"\r\n")
    _, buf = read_until_tagged(sock, buf, b"a")
    t2 = time.perf_counter()
    sock.sendall(b'b LIST "" "*"\r\n')
    _, buf = read_until_tagged(sock, buf, b"b")
    t3 = time.perf_counter()
    sock.sendall(b"c LOGOUT\r\n")
    sock.close()
    return t3 - t0, t1 - t0, t2 - t1, t3 - t2


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--pause", type=float, default=1.2)
    args = ap.parse_args()
    password = os.environ.get("IMAP_PASSWORD")
    if password is None:
        sys.exit("login_floor.py: set IMAP_PASSWORD in the environment")
    runs = []
    for _ in range(args.runs):
        time.sleep(args.pause)
        runs.append(one_run(args.host, args.port, args.user, password))
    medians = [statistics.median(r[i] for r in runs) for i in range(4)]
    print("%.3f greeting %.3f login %.3f list %.3f" % tuple(medians))


if __name__ == "__main__":
    main()
