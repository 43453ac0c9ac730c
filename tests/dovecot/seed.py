#!/usr/bin/env python3
"""Seed a mail corpus straight into a private Dovecot's Maildir++ tree.

Writing the files is orders of magnitude faster than IMAP APPEND (10,000
messages take a few seconds); Dovecot indexes them on first access and
assigns UIDs then. The corpus is reproducible: the same arguments and --seed
give byte-identical messages and file names.

    seed.py --dir DIR [--user alice] [--messages N] [--folders F]
            [--nested] [--non-ascii] [--sizes lognormal|fixed] [--small]
            [--flags]

DIR is a directory made by `dovecot-ctl start` (its env file gives the mail
root and, when running as root, the uid that must own the files). --maildir
PATH writes into PATH instead (no chown unless --uid/--gid are given).

On disk: INBOX is the root of the user's Maildir, folder "A/B" is ".A.B", and
non-ASCII names are modified UTF-7 (RFC 3501 5.1.3): "Entwürfe" is
".Entw&APw-rfe". Files use LF line ends as Dovecot stores them (it serves
CRLF); names carry S=<size>,W=<size with CRLF> so Dovecot need not stat or
read them. Do not seed a folder while a client is syncing it.
"""

import argparse
import base64
import math
import os
import random
import shlex
import sys
import time

# Fixed epoch so that Date headers (and file mtimes, which Dovecot reports as
# INTERNALDATE) do not depend on when the corpus was made.
BASE_EPOCH = 1704067200  # 2024-01-01T00:00:00Z
SPAN_SECONDS = 2 * 365 * 86400

FOLDER_NAMES = ["Archive", "Lists", "Work", "Receipts", "Travel", "Family",
                "Newsletters", "Projects", "Sent", "Drafts", "Trash", "Junk"]
NESTED_NAMES = ["Lists/dovecot", "Projects/roam", "Archive/2023",
                "Projects/roam/design"]
NON_ASCII_NAMES = ["Entwürfe", "Archive/Größe"]

PEOPLE = ["Alice Liddell <alice@example.org>", "Bob Stone <bob@example.net>",
          "Carol Diaz <carol@example.com>", "Dan Okafor <dan@lists.example>",
          "Erin Wu <erin@example.org>", "Frank Moreau <frank@example.fr>",
          "Grace Hopper <grace@example.mil>", "Heidi Krause <heidi@example.de>"]
SUBJECT_WORDS = ["meeting", "notes", "invoice", "trip", "release", "review",
                 "question", "lunch", "report", "update", "draft", "patch",
                 "schedule", "photos", "budget", "weekly", "build", "failure"]
WORDS = ("the of and to in is that for it as was with be by on not he this are "
         "or his from at which but have an they you were her she there been "
         "one all we their has would when if so no will can more out up into "
         "do any your what some them only other time could new these two may "
         "first then its also after about over such like our how most between "
         "mailbox folder message server client sync state journal flag seen "
         "draft answered flagged deleted expunge uid validity maildir imap "
         "dovecot network offline conflict rename").split()

# Maildir flag letters in the order Maildir requires (ASCII), with the
# chance of each: many messages are read, few are flagged or drafts.
FLAG_ODDS = [("D", 0.01), ("F", 0.06), ("R", 0.12), ("S", 0.70), ("T", 0.02)]


def imap_utf7(name):
    """Modified UTF-7 of RFC 3501 section 5.1.3 (ASCII stays, '&' -> '&-')."""
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


def disk_name(folder):
    """Maildir++ directory of a folder relative to the user's Maildir root."""
    if folder == "INBOX":
        return ""
    return "." + ".".join(imap_utf7(part) for part in folder.split("/"))


def choose_folders(count, nested, non_ascii):
    """INBOX first, then nested, non-ASCII and plain names, `count` in all
    (more if --nested/--non-ascii need more than `count`). A nested folder's
    parents are included too, as a real client would have created them."""
    wanted = ["INBOX"]
    extra = []
    if nested:
        extra += NESTED_NAMES[:1] if count < 8 else NESTED_NAMES
    if non_ascii:
        extra += NON_ASCII_NAMES[:1] if count < 8 else NON_ASCII_NAMES
    for name in extra:
        parts = name.split("/")
        for i in range(1, len(parts) + 1):
            prefix = "/".join(parts[:i])
            if prefix not in wanted:
                wanted.append(prefix)
    plain = iter(FOLDER_NAMES + [f"Folder{i:03d}" for i in range(1000)])
    while len(wanted) < count:
        name = next(plain)
        if name not in wanted:
            wanted.append(name)
    if len(wanted) > count:
        # Keep the special ones (they are the point of --nested/--non-ascii)
        # and drop plain names from the end.
        special = [f for f in wanted if f == "INBOX" or any(
            f == e or e.startswith(f + "/") for e in extra)]
        wanted = special + [f for f in wanted if f not in special]
        wanted = wanted[:max(count, len(special))]
    return wanted


class TextPool:
    """A few MB of random ASCII text, cut into bodies by offset: generating
    words per message would dominate the run time."""

    def __init__(self, rng, size=4 << 20):
        lines, total = [], 0
        while total < size:
            if rng.random() < 0.01:
                # Long lines (beyond RFC 5322's 998) exercise parsers.
                n = rng.randint(200, 2500) // 6
            else:
                n = rng.randint(6, 13)
            line = " ".join(rng.choice(WORDS) for _ in range(n))
            lines.append(line)
            total += len(line) + 1
        self.text = "\n".join(lines) + "\n"

    def cut(self, rng, length):
        if length <= 0:
            return ""
        pieces, remaining = [], length
        while remaining > 0:
            start = rng.randrange(0, len(self.text) - 1)
            start = self.text.find("\n", start) + 1  # start at a line boundary
            chunk = self.text[start:start + remaining]
            pieces.append(chunk)
            remaining -= len(chunk)
        body = "".join(pieces)
        return body if body.endswith("\n") else body + "\n"


def pick_size(rng, args):
    if args.sizes == "fixed":
        return args.median
    size = int(rng.lognormvariate(math.log(args.median), args.sigma))
    return min(max(size, args.min_size), args.max_size)


def pick_flags(rng):
    return "".join(letter for letter, odds in FLAG_ODDS if rng.random() < odds)


def make_message(rng, pool, seed, folder_index, number, when, size):
    sender, recipient = rng.sample(PEOPLE, 2)
    subject = " ".join(rng.choice(SUBJECT_WORDS) for _ in range(rng.randint(2, 6)))
    if rng.random() < 0.05:
        subject = "=?UTF-8?Q?Gr=C3=BC=C3=9Fe?= " + subject
    date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(when))
    header = (f"Return-Path: <{sender.split('<')[1]}\n"
              f"Date: {date}\n"
              f"From: {sender}\n"
              f"To: {recipient}\n"
              f"Subject: {subject.capitalize()}\n"
              f"Message-ID: <seed{seed}.{folder_index}.{number}@roam.test>\n"
              "MIME-Version: 1.0\n"
              "Content-Type: text/plain; charset=us-ascii\n"
              "Content-Transfer-Encoding: 7bit\n"
              "\n")
    return (header + pool.cut(rng, size - len(header))).encode("ascii")


def read_env(directory):
    env = {}
    with open(os.path.join(directory, "env"), encoding="utf-8") as f:
        for line in f:
            if "=" in line:
                key, value = line.rstrip("\n").split("=", 1)
                env[key] = (shlex.split(value) or [""])[0]
    return env


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--dir", help="dovecot-ctl directory (reads DIR/env)")
    where.add_argument("--maildir", help="write into this Maildir++ root instead")
    p.add_argument("--user", default=None, help="mail user (default: IMAP_USER from env, alice)")
    p.add_argument("--messages", type=int, default=1000, help="total number of messages")
    p.add_argument("--folders", type=int, default=5, help="number of folders including INBOX")
    p.add_argument("--nested", action="store_true", help="include nested folders such as Lists/dovecot")
    p.add_argument("--non-ascii", action="store_true", help="include a folder named Entwürfe")
    p.add_argument("--sizes", choices=["lognormal", "fixed"], default="lognormal")
    p.add_argument("--median", type=int, default=None, help="median message size in bytes (default 6 KB)")
    p.add_argument("--sigma", type=float, default=None, help="log-normal shape (default 1.3)")
    p.add_argument("--min-size", type=int, default=None, help="(default 1 KB)")
    p.add_argument("--max-size", type=int, default=None, help="(default 2 MB)")
    p.add_argument("--small", action="store_true",
                   help="small messages, a few hundred bytes each (median 600, 400..2048): "
                        "headers and a line or two, for corpora of 100,000 messages")
    p.add_argument("--flags", action="store_true", help="random Maildir flags (S, F, R, T, D); some in new/")
    p.add_argument("--seed", type=int, default=1, help="RNG seed; also part of Message-IDs and file names")
    p.add_argument("--uid", type=int, default=None, help="owner of the files (default: MAIL_UID when root)")
    p.add_argument("--gid", type=int, default=None)
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    # --small changes the defaults only: an explicit size option still wins.
    sizes = (600, 0.3, 400, 2048) if args.small else (6 * 1024, 1.3, 1024, 2 * 1024 * 1024)
    for name, default in zip(("median", "sigma", "min_size", "max_size"), sizes):
        if getattr(args, name) is None:
            setattr(args, name, default)
    return args


def main(argv):
    args = parse_args(argv)
    started = time.monotonic()
    uid, gid = args.uid, args.gid
    user = args.user
    if args.dir:
        env = read_env(args.dir)
        user = user or env.get("IMAP_USER", "alice")
        root = os.path.join(env["MAIL_ROOT"], user)
        if os.geteuid() == 0:
            uid = uid if uid is not None else int(env["MAIL_UID"])
            gid = gid if gid is not None else int(env["MAIL_GID"])
    else:
        root = args.maildir
    chown = uid is not None
    if chown and gid is None:
        gid = uid

    rng = random.Random(args.seed)
    pool = TextPool(rng)
    folders = choose_folders(args.folders, args.nested, args.non_ascii)
    # INBOX gets a larger share, like real accounts.
    weights = [3.0 if f == "INBOX" else 1.0 for f in folders]

    def make_dir(path):
        if not os.path.isdir(path):
            os.makedirs(path, mode=0o700, exist_ok=True)
            if chown:
                os.chown(path, uid, gid)

    if not os.path.isdir(root):
        parent = os.path.dirname(root.rstrip("/"))
        make_dir(parent)
        make_dir(root)
    for f in folders:
        base = os.path.join(root, disk_name(f))
        make_dir(base)
        for sub in ("cur", "new", "tmp"):
            make_dir(os.path.join(base, sub))
        if f != "INBOX":
            marker = os.path.join(base, "maildirfolder")
            if not os.path.exists(marker):
                open(marker, "wb").close()
                if chown:
                    os.chown(marker, uid, gid)

    counts = {f: 0 for f in folders}
    total_bytes = 0
    umask = os.umask(0o077)
    try:
        for n in range(args.messages):
            folder = rng.choices(folders, weights)[0] if n >= len(folders) else folders[n]
            folder_index = folders.index(folder)
            counts[folder] += 1
            when = BASE_EPOCH + rng.randrange(SPAN_SECONDS)
            data = make_message(rng, pool, args.seed, folder_index, n, when, pick_size(rng, args))
            flags = pick_flags(rng) if args.flags else ""
            in_new = args.flags and not flags and rng.random() < 0.2
            crlf_size = len(data) + data.count(b"\n")
            base = f"{when}.M{n % 1000000}P{args.seed}Q{n}.roam-seed,S={len(data)},W={crlf_size}"
            if in_new:
                path = os.path.join(root, disk_name(folder), "new", base)
            else:
                path = os.path.join(root, disk_name(folder), "cur", base + ":2," + flags)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, data)
                if chown:
                    os.fchown(fd, uid, gid)
            finally:
                os.close(fd)
            os.utime(path, (when, when))
            total_bytes += len(data)
    finally:
        os.umask(umask)

    if not args.quiet:
        elapsed = time.monotonic() - started
        print(f"seed.py: {args.messages} messages, {total_bytes / 1e6:.1f} MB, "
              f"{len(folders)} folders into {root} in {elapsed:.2f} s")
        for f in folders:
            print(f"  {counts[f]:7d}  {f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
