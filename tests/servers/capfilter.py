#!/usr/bin/env python3
"""A loopback IMAP proxy that hides capabilities and strips response codes.

It sits between roam and a test server so that tests can exercise a client's
fallbacks on a server that has the extensions (Dovecot, Cyrus): hidden
capabilities vanish from the greeting, from CAPABILITY replies and from
[CAPABILITY ...] response codes, and stripped response codes ([APPENDUID
...], [COPYUID ...]) vanish from every response line. Literals pass through
untouched; client data is forwarded as it is. COMPRESS is always hidden:
the proxy reads the server's text and cannot read deflated bytes.

    capfilter.py start DIR --upstream UPSTREAM_DIR [--hide "UIDPLUS MOVE"]
                 [--strip "APPENDUID COPYUID"]
    capfilter.py stop DIR

`start` wipes DIR, listens on a free port of 127.0.0.1 in the background and
writes DIR/env: UPSTREAM_DIR/env (a dovecot-ctl, cyrus-ctl or courier-ctl
directory) with IMAP_PORT replaced by the proxy's, and ADMIN_IMAP_PORT set to
the server's own port for the harness's inspections (imap-admin.py). The
harness then takes DIR as its server directory (ROAM_TEST_DOVECOT_DIR).
"""

import argparse
import os
import re
import shlex
import shutil
import signal
import socket
import sys
import threading
import time

LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n$")


class Filter:
    def __init__(self, hide, strip):
        self.hide = [h.upper() for h in hide] + ["COMPRESS"]
        self.strip = re.compile(
            rb"\[(?:" + b"|".join(re.escape(s.upper().encode()) for s in strip) + rb")(?: [^\]]*)?\] ?",
            re.IGNORECASE) if strip else None

    def hidden(self, atom):
        upper = atom.upper()
        return any(upper == h or upper.startswith(h + "=") for h in self.hide)

    def capabilities(self, text):
        return " ".join(a for a in text.split(" ") if a and not self.hidden(a))

    def line(self, line):
        """One response line (without the literal that may follow it)."""
        body = line.decode("latin-1")
        m = re.match(r"(\* CAPABILITY )(.*?)(\r?\n)$", body, re.IGNORECASE)
        if m:
            body = m.group(1) + self.capabilities(m.group(2)) + m.group(3)
        body = re.sub(r"\[CAPABILITY ([^\]]*)\]",
                      lambda c: "[CAPABILITY " + self.capabilities(c.group(1)) + "]", body,
                      flags=re.IGNORECASE)
        out = body.encode("latin-1")
        if self.strip is not None:
            out = self.strip.sub(b"", out)
        return out


def shut_down(*sockets):
    """Ends both directions of a proxied connection once either side ends."""
    for s in sockets:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def pump_client(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        shut_down(dst, src)


def pump_server(src, dst, flt):
    reader = src.makefile("rb")
    try:
        response_start = True
        while True:
            line = reader.readline(1 << 20)
            if not line:
                break
            literal = LITERAL.search(line)
            # Only the first line of a response is filtered: what follows a
            # literal continues the same response.
            out = flt.line(line) if response_start else line
            dst.sendall(out)
            if literal:
                remaining = int(literal.group(1))
                while remaining > 0:
                    chunk = reader.read(min(remaining, 65536))
                    if not chunk:
                        return
                    dst.sendall(chunk)
                    remaining -= len(chunk)
                response_start = False
            else:
                response_start = line.endswith(b"\n")
    except OSError:
        pass
    finally:
        shut_down(dst, src)


def serve(listener, upstream_port, flt):
    while True:
        client, _ = listener.accept()
        try:
            server = socket.create_connection(("127.0.0.1", upstream_port))
        except OSError:
            client.close()
            continue
        for target, args in ((pump_client, (client, server)), (pump_server, (server, client, flt))):
            threading.Thread(target=target, args=args, daemon=True).start()


def read_env(directory):
    env = []
    with open(os.path.join(directory, "env"), encoding="utf-8") as f:
        for line in f:
            if "=" in line:
                key, value = line.rstrip("\n").split("=", 1)
                env.append((key, (shlex.split(value) or [""])[0]))
    return env


def write_env(directory, env):
    with open(os.path.join(directory, "env"), "w", encoding="utf-8") as f:
        for key, value in env:
            f.write(f"{key}='{value}'\n")


def stop(directory):
    pidfile = os.path.join(directory, "capfilter.pid")
    try:
        with open(pidfile, encoding="ascii") as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    os.unlink(pidfile)


def start(args):
    directory = os.path.abspath(args.dir)
    if os.path.exists(directory):
        # Only what `start` makes may be there (a start that failed half-way
        # leaves work/ without env).
        if not set(os.listdir(directory)) <= {"env", "work", "capfilter.pid"}:
            sys.exit(f"capfilter.py: {directory} is not empty and not a capfilter directory")
        stop(directory)
        shutil.rmtree(directory)
    os.makedirs(os.path.join(directory, "work"))
    env = read_env(args.upstream)
    values = dict(env)
    if "SKIP_REASON" in values:
        write_env(directory, env)
        print(f"capfilter.py: upstream skipped: {values['SKIP_REASON']}", file=sys.stderr)
        return 0
    upstream_port = int(values["IMAP_PORT"])
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    flt = Filter(args.hide.split(), args.strip.split())

    pid = os.fork()
    if pid == 0:
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        try:
            serve(listener, upstream_port, flt)
        finally:
            os._exit(0)
    listener.close()
    with open(os.path.join(directory, "capfilter.pid"), "w", encoding="ascii") as f:
        f.write(f"{pid}\n")
    env = [(k, str(port) if k == "IMAP_PORT" else v) for k, v in env]
    env.append(("ADMIN_IMAP_PORT", str(upstream_port)))
    env.append(("CAPFILTER_HIDE", args.hide))
    env.append(("CAPFILTER_STRIP", args.strip))
    write_env(directory, env)
    print(f"capfilter.py: 127.0.0.1:{port} -> {upstream_port}, hiding {args.hide or '-'}, "
          f"stripping {args.strip or '-'}")
    return 0


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("command", choices=["start", "stop"])
    p.add_argument("dir")
    p.add_argument("--upstream", help="the server's ctl directory")
    p.add_argument("--hide", default="", help="capabilities to hide (blank-separated)")
    p.add_argument("--strip", default="", help="response codes to strip (blank-separated)")
    args = p.parse_args(argv)
    if args.command == "stop":
        stop(os.path.abspath(args.dir))
        return 0
    if not args.upstream:
        p.error("start needs --upstream")
    return start(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
