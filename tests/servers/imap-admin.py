#!/usr/bin/env python3
"""Inspect and change a test server's mailboxes over plain IMAP.

The integration harness (tests/integration/dovecot.hpp) uses doveadm against
Dovecot; for the other servers of the matrix (Cyrus, Courier) it runs this
script instead, which logs in as the test user on the server's own port (never
through a capability filter) and answers in JSON.

    imap-admin.py --dir DIR [--user U] COMMAND ARGS...

DIR is a ctl directory (its env gives IMAP_PORT, IMAP_PASSWORD,
MAILBOX_PREFIX, MAILBOX_SEPARATOR, ADMIN_USER; ADMIN_IMAP_PORT, when set by
capfilter.py, is the server's own port and wins over IMAP_PORT). Mailbox names on the command
line and in the output are the harness's: "INBOX", "A/B", UTF-8. They map to
the server's as PREFIX + parts joined by SEPARATOR, in modified UTF-7.

Commands:
  create NAME | delete NAME | rename OLD NEW
  append NAME [--flags "F ..."] [--date UNIXTIME]   message on stdin; prints the UID
  flags NAME UID add|remove F ...
  expunge NAME UID ...
  move NAME UID DEST
  list                          names, sorted
  status NAME                   {uidvalidity, uidnext, messages, highestmodseq}
  status-all                    [{mailbox, ...status}]
  fetch NAME [--no-text]        [{uid, flags, size, received, text}] by UID;
                                text is the message with LF, bytes as Latin-1
  fetch-all [--no-text]         {NAME: [...]}
  upload-maildir PATH           APPEND a Maildir++ tree (seed.py --maildir)
  delete-user NAME              as ADMIN_USER: delete NAME's whole tree (Cyrus)
"""

import base64
import email.utils
import imaplib
import json
import os
import re
import shlex
import socket
import sys
import time


def read_env(directory):
    env = {}
    with open(os.path.join(directory, "env"), encoding="utf-8") as f:
        for line in f:
            if "=" in line:
                key, value = line.rstrip("\n").split("=", 1)
                env[key] = (shlex.split(value) or [""])[0]
    return env


def utf7_encode(name):
    out, pending = [], []

    def flush():
        if pending:
            raw = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(raw).decode().rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


def utf7_decode(name):
    def repl(m):
        if m.group(1) == "":
            return "&"
        b64 = m.group(1).replace(",", "/")
        b64 += "=" * (-len(b64) % 4)
        return base64.b64decode(b64).decode("utf-16-be")

    return re.sub(r"&([^-]*)-", repl, name)


class Server:
    def __init__(self, env, user, password=None):
        self.env = env
        self.prefix = env.get("MAILBOX_PREFIX", "")
        self.sep = env.get("MAILBOX_SEPARATOR", "/")
        # Through a capability filter (capfilter.py), ADMIN_IMAP_PORT is the
        # server's own port: inspections never go through the filter.
        port = int(env.get("ADMIN_IMAP_PORT") or env["IMAP_PORT"])
        self.conn = imaplib.IMAP4(env.get("IMAP_HOST", "127.0.0.1"), port)
        # imaplib writes a command and its literal in separate sends: without
        # TCP_NODELAY, Nagle and delayed ACKs cost 40 ms per APPEND.
        self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn.login(user, password or env.get("IMAP_PASSWORD", "secret"))
        typ, data = self.conn.capability()
        self.caps = set(data[0].decode().upper().split()) if typ == "OK" else set()

    def close(self):
        try:
            self.conn.logout()
        except Exception:
            pass

    def server_name(self, name):
        if name.upper() == "INBOX":
            return "INBOX"
        return utf7_encode(self.prefix + self.sep.join(name.split("/")))

    def harness_name(self, server_name):
        name = utf7_decode(server_name)
        if name.upper() == "INBOX":
            return "INBOX"
        if self.prefix and name.startswith(self.prefix):
            name = name[len(self.prefix):]
        return "/".join(name.split(self.sep))

    @staticmethod
    def quote(name):
        return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'

    def check(self, result, what):
        typ, data = result
        if typ != "OK":
            raise RuntimeError(f"{what}: {typ} {data!r}")
        return data

    def select(self, name, readonly=False):
        self.check(self.conn.select(self.quote(self.server_name(name)), readonly), f"SELECT {name}")

    def list(self):
        data = self.check(self.conn.list('""', "*"), "LIST")
        names = []
        for item in data:
            if item is None:
                continue
            if isinstance(item, tuple):  # name sent as a literal
                names.append(item[1].decode())
                continue
            m = re.match(rb'\((?P<attrs>[^)]*)\) (?:"[^"]*"|NIL) (?P<name>.*)$', item)
            if not m:
                raise RuntimeError(f"LIST: cannot parse {item!r}")
            if b"\\noselect" in m.group("attrs").lower() or b"\\nonexistent" in m.group("attrs").lower():
                continue
            raw = m.group("name").decode()
            if raw.startswith('"'):
                raw = raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")
            names.append(raw)
        return sorted(self.harness_name(n) for n in names)

    def status(self, name):
        items = "UIDVALIDITY UIDNEXT MESSAGES"
        if "CONDSTORE" in self.caps:
            items += " HIGHESTMODSEQ"
        data = self.check(self.conn.status(self.quote(self.server_name(name)), f"({items})"),
                          f"STATUS {name}")
        text = data[0].decode()
        values = dict((k.lower(), int(v)) for k, v in re.findall(r"([A-Z]+) (\d+)", text.split("(", 1)[1]))
        values.setdefault("highestmodseq", 0)
        return values

    def fetch(self, name, text=True):
        # Like doveadm: a missing mailbox has no messages.
        typ, _ = self.conn.select(self.quote(self.server_name(name)), True)
        if typ != "OK":
            return []
        typ, data = self.conn.uid("FETCH", "1:*", "(UID FLAGS RFC822.SIZE INTERNALDATE)")
        self.check((typ, data), f"FETCH {name}")
        messages = {}
        for item in data:
            if item is None:
                continue
            meta = item.decode() if isinstance(item, bytes) else item[0].decode()
            m_uid = re.search(r"UID (\d+)", meta)
            if not m_uid:
                continue
            flags = re.search(r"FLAGS \(([^)]*)\)", meta).group(1).split()
            date = re.search(r'INTERNALDATE "([^"]+)"', meta).group(1)
            received = int(time.mktime(imaplib.Internaldate2tuple(f'INTERNALDATE "{date}"'.encode())))
            messages[int(m_uid.group(1))] = {
                "uid": int(m_uid.group(1)),
                "flags": sorted(f for f in flags if f != "\\Recent"),
                "size": int(re.search(r"RFC822\.SIZE (\d+)", meta).group(1)),
                "received": received,
                "text": "",
            }
        if text and messages:
            typ, data = self.conn.uid("FETCH", "1:*", "(UID BODY.PEEK[])")
            self.check((typ, data), f"FETCH {name}")
            current = None
            for item in data:
                if isinstance(item, tuple):
                    m_uid = re.search(rb"UID (\d+)", item[0])
                    current = [int(m_uid.group(1)) if m_uid else None, item[1]]
                    if current[0] in messages:
                        messages[current[0]]["text"] = self.lf(item[1])
                elif isinstance(item, bytes) and current is not None and current[0] is None:
                    m_uid = re.search(rb"UID (\d+)", item)
                    if m_uid and int(m_uid.group(1)) in messages:
                        messages[int(m_uid.group(1))]["text"] = self.lf(current[1])
        self.conn.close()
        return [messages[uid] for uid in sorted(messages)]

    @staticmethod
    def lf(raw):
        # As doveadm shows it: LF line ends. Latin-1 keeps every byte as one
        # code point through JSON (the harness turns them back into bytes).
        return raw.replace(b"\r\n", b"\n").decode("latin-1")

    def append(self, name, message, flags, date):
        if b"\r\n" not in message:
            message = message.replace(b"\n", b"\r\n")
        before = self.status(name)["uidnext"]
        flag_list = "(" + " ".join(flags) + ")" if flags else None
        when = imaplib.Time2Internaldate(date) if date is not None else None
        typ, data = self.conn.append(self.quote(self.server_name(name)), flag_list, when, message)
        self.check((typ, data), f"APPEND {name}")
        m = re.search(rb"\[APPENDUID \d+ (\d+)\]", data[0] or b"")
        return int(m.group(1)) if m else before

    def store(self, name, uid, sign, flags):
        self.select(name)
        self.check(self.conn.uid("STORE", str(uid), f"{sign}FLAGS.SILENT", "(" + " ".join(flags) + ")"),
                   f"STORE {name} {uid}")
        self.conn.close()

    def expunge(self, name, uids):
        self.select(name)
        uid_set = ",".join(str(u) for u in uids)
        self.check(self.conn.uid("STORE", uid_set, "+FLAGS.SILENT", "(\\Deleted)"), f"STORE {name}")
        self.check(self.conn.uid("EXPUNGE", uid_set), f"UID EXPUNGE {name}")
        self.conn.close()

    def move(self, name, uid, dest):
        self.select(name)
        target = self.quote(self.server_name(dest))
        if "MOVE" in self.caps:
            self.check(self.conn.uid("MOVE", str(uid), target), f"MOVE {name} {uid}")
        else:
            self.check(self.conn.uid("COPY", str(uid), target), f"COPY {name} {uid}")
            self.check(self.conn.uid("STORE", str(uid), "+FLAGS.SILENT", "(\\Deleted)"), "STORE")
            self.check(self.conn.uid("EXPUNGE", str(uid)), "UID EXPUNGE")
        self.conn.close()


def upload_maildir(server, root):
    """APPENDs every message of a Maildir++ tree (INBOX at the root, `.A.B`
    for folder A/B in modified UTF-7), with its flags and mtime as date."""
    letters = {"D": "\\Draft", "F": "\\Flagged", "R": "\\Answered", "S": "\\Seen", "T": "\\Deleted"}
    folders = [("INBOX", root)]
    for entry in sorted(os.listdir(root)):
        if entry.startswith(".") and os.path.isdir(os.path.join(root, entry, "cur")):
            folders.append(("/".join(utf7_decode(p) for p in entry[1:].split(".")),
                            os.path.join(root, entry)))
    existing = set(server.list())
    for name, path in folders:
        if name not in existing:
            # Parents first, as a client would create them.
            parts = name.split("/")
            for i in range(1, len(parts) + 1):
                parent = "/".join(parts[:i])
                if parent not in existing:
                    server.check(server.conn.create(server.quote(server.server_name(parent))),
                                 f"CREATE {parent}")
                    existing.add(parent)
        files = []
        for sub in ("new", "cur"):
            for f in os.listdir(os.path.join(path, sub)):
                files.append(os.path.join(path, sub, f))
        files.sort(key=lambda p: os.path.basename(p))
        for f in files:
            info = os.path.basename(f).split(":2,", 1)
            flags = [letters[c] for c in (info[1] if len(info) > 1 else "") if c in letters]
            with open(f, "rb") as fh:
                data = fh.read()
            server.append(name, data, flags, os.stat(f).st_mtime)


def delete_user(env, name):
    admin = Server(env, env.get("ADMIN_USER", "cyrus"))
    sep = env.get("MAILBOX_SEPARATOR", "/")
    top = f"user{sep}{name}"
    typ, data = admin.conn.list('""', admin.quote(top))
    if typ == "OK" and data and data[0] is not None:
        admin.check(admin.conn.setacl(admin.quote(top), admin.env.get("ADMIN_USER", "cyrus"), "lrswipkxtecda"),
                    f"SETACL {top}")
        admin.check(admin.conn.delete(admin.quote(top)), f"DELETE {top}")
    admin.close()


def main(argv):
    args = list(argv)
    if len(args) < 3 or args[0] != "--dir":
        print(__doc__, file=sys.stderr)
        return 2
    env = read_env(args[1])
    args = args[2:]
    user = env.get("IMAP_USER", "alice")
    if args and args[0] == "--user":
        user, args = args[1], args[2:]
    cmd, rest = args[0], args[1:]
    if cmd == "delete-user":
        delete_user(env, rest[0])
        return 0
    server = Server(env, user)
    try:
        out = None
        if cmd == "create":
            server.check(server.conn.create(server.quote(server.server_name(rest[0]))), f"CREATE {rest[0]}")
        elif cmd == "delete":
            server.check(server.conn.delete(server.quote(server.server_name(rest[0]))), f"DELETE {rest[0]}")
        elif cmd == "rename":
            server.check(server.conn.rename(server.quote(server.server_name(rest[0])),
                                            server.quote(server.server_name(rest[1]))), f"RENAME {rest[0]}")
        elif cmd == "append":
            name, flags, date = rest[0], [], None
            i = 1
            while i < len(rest):
                if rest[i] == "--flags":
                    flags = rest[i + 1].split()
                elif rest[i] == "--date":
                    date = float(rest[i + 1])
                i += 2
            out = server.append(name, sys.stdin.buffer.read(), flags, date)
        elif cmd == "flags":
            server.store(rest[0], int(rest[1]), "+" if rest[2] == "add" else "-", rest[3:])
        elif cmd == "expunge":
            server.expunge(rest[0], [int(u) for u in rest[1:]])
        elif cmd == "move":
            server.move(rest[0], int(rest[1]), rest[2])
        elif cmd == "list":
            out = server.list()
        elif cmd == "status":
            out = server.status(rest[0])
        elif cmd == "status-all":
            out = [dict(mailbox=n, **server.status(n)) for n in server.list()]
        elif cmd == "fetch":
            out = server.fetch(rest[0], text="--no-text" not in rest)
        elif cmd == "fetch-all":
            out = {n: server.fetch(n, text="--no-text" not in rest) for n in server.list()}
        elif cmd == "upload-maildir":
            upload_maildir(server, rest[0])
        else:
            print(f"imap-admin.py: unknown command {cmd}", file=sys.stderr)
            return 2
        if out is not None:
            json.dump(out, sys.stdout, ensure_ascii=True)
            sys.stdout.write("\n")
    except (RuntimeError, imaplib.IMAP4.error) as e:
        print(f"imap-admin.py: {e}", file=sys.stderr)
        return 1
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
