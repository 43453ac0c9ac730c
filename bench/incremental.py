#!/usr/bin/env python3
"""The changes of bench/bench.sh's incremental scenario (A'), made alike for
both tools.

    incremental.py pick --listing FILE --seed N [--local] --out PICK.json
    incremental.py uids --pick PICK.json --set NAME --listing FILE
    incremental.py local --pick PICK.json --maildir INBOX --new-dir DIR --tag TAG

Each tool syncs its own server user and its own Maildir, and the two tools
name their files differently, so "flag 100 messages" must pick the same
messages on both sides to give both tools the same work. Messages are
therefore picked by Message-ID (the seeded corpus gives every message a
unique one):

- `pick` reads one user's INBOX as printed by
  `doveadm -f tab fetch -u USER 'uid flags hdr.message-id' mailbox INBOX all`
  and chooses disjoint sets, shuffled with --seed so each run touches other
  messages: server_flag (100 messages without \\Flagged, to get it),
  server_unseen (50 with \\Seen, to lose it), server_expunge (50), and with
  --local also local_flag (100 without \\Flagged, to get F in the Maildir) and
  local_delete (20 files to delete). When INBOX holds fewer than 400
  messages, all sets shrink in proportion.
- `uids` prints the UIDs (comma-separated, for doveadm) that one set has in
  another user's listing.
- `local` applies local_flag and local_delete to a Maildir INBOX (reading
  each file's Message-ID) and copies the files found under --new-dir into its
  new/ as new messages, named with TAG so that runs do not collide.
"""

import argparse
import json
import os
import random
import shutil
import sys

SETS = [  # name, size, the flag a message must lack (-) or have (+), if any
    ("server_flag", 100, "-\\Flagged"),
    ("server_unseen", 50, "+\\Seen"),
    ("server_expunge", 50, None),
]
LOCAL_SETS = [
    ("local_flag", 100, "-\\Flagged"),
    ("local_delete", 20, None),
]


def read_listing(path):
    """(uid, flags, message-id) rows of a doveadm tab listing; a Message-ID
    seen twice is dropped, since it could not name one message."""
    rows, seen, dup = [], set(), set()
    with open(path, encoding="utf-8", errors="replace") as f:
        header = f.readline().rstrip("\n").split("\t")
        if header != ["uid", "flags", "hdr.message-id"]:
            sys.exit(f"incremental.py: unexpected listing header {header}")
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 3 or not parts[2]:
                continue
            uid, flags, mid = int(parts[0]), set(parts[1].split()), parts[2].strip()
            if mid in seen:
                dup.add(mid)
            seen.add(mid)
            rows.append((uid, flags, mid))
    return [r for r in rows if r[2] not in dup]


def cmd_pick(args):
    rows = read_listing(args.listing)
    # Sorted first, so that the shuffle depends on the seed only and not on
    # the order in which the server lists messages.
    rows.sort(key=lambda r: r[2])
    random.Random(args.seed).shuffle(rows)
    sets = SETS + (LOCAL_SETS if args.local else [])
    # A small test corpus cannot give 320 distinct messages: every set then
    # shrinks in proportion, so that each kind of change still happens.
    scale = min(1.0, 0.8 * len(rows) / sum(size for _, size, _ in sets))
    used, pick = set(), {}
    for name, size, cond in sets:
        size = max(1, int(size * scale))
        chosen = []
        for uid, flags, mid in rows:
            if len(chosen) == size:
                break
            if mid in used:
                continue
            if cond and (cond[0] == "-") == (cond[1:] in flags):
                continue
            chosen.append(mid)
            used.add(mid)
        pick[name] = chosen
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(pick, f, indent=1)
    print(" ".join(f"{k}={len(v)}" for k, v in pick.items()))


def cmd_uids(args):
    with open(args.pick, encoding="utf-8") as f:
        wanted = set(json.load(f).get(args.set, []))
    uids = [uid for uid, _, mid in read_listing(args.listing) if mid in wanted]
    if len(uids) != len(wanted):
        print(f"incremental.py: {args.set}: {len(wanted) - len(uids)} of {len(wanted)} "
              f"messages not found in {args.listing}", file=sys.stderr)
    print(",".join(str(u) for u in sorted(uids)))


def message_id(path):
    """The Message-ID header of a file, or None. Only the header is read:
    the seeded headers are short, and reading whole bodies of a 100,000
    message Maildir would dominate the time this takes."""
    with open(path, "rb") as f:
        head = f.read(16384)
    for line in head.split(b"\n"):
        if not line.strip():
            break
        if line[:11].lower() == b"message-id:":
            return line[11:].strip().decode("ascii", "replace")
    return None


def cmd_local(args):
    with open(args.pick, encoding="utf-8") as f:
        pick = json.load(f)
    flag, delete = set(pick.get("local_flag", [])), set(pick.get("local_delete", []))
    flagged = deleted = 0
    for sub in ("cur", "new"):
        d = os.path.join(args.maildir, sub)
        for name in sorted(os.listdir(d)):
            path = os.path.join(d, name)
            mid = message_id(path)
            if mid in delete:
                os.unlink(path)
                deleted += 1
            elif mid in flag:
                # What a mail reader does: a message in new/ moves to cur/
                # when it gets flags; one in cur/ is renamed with F added,
                # the letters kept in ASCII order as Maildir wants.
                base, _, letters = name.partition(":2,")
                letters = "".join(sorted(set(letters + "F")))
                os.rename(path, os.path.join(args.maildir, "cur", base + ":2," + letters))
                flagged += 1
    added = 0
    for root, _, files in sorted(os.walk(args.new_dir)):
        if os.path.basename(root) not in ("cur", "new"):
            continue
        for name in sorted(files):
            dest = os.path.join(args.maildir, "new", f"1700000000.{args.tag}_{added}.bench")
            shutil.copyfile(os.path.join(root, name), dest)
            added += 1
    print(f"{args.maildir}: F on {flagged} of {len(flag)}, deleted {deleted} of {len(delete)}, {added} new")
    if flagged != len(flag) or deleted != len(delete):
        print("incremental.py: some picked messages were not found in the Maildir", file=sys.stderr)


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("pick")
    a.add_argument("--listing", required=True)
    a.add_argument("--seed", type=int, required=True)
    a.add_argument("--local", action="store_true")
    a.add_argument("--out", required=True)
    a = sub.add_parser("uids")
    a.add_argument("--pick", required=True)
    a.add_argument("--set", required=True)
    a.add_argument("--listing", required=True)
    a = sub.add_parser("local")
    a.add_argument("--pick", required=True)
    a.add_argument("--maildir", required=True)
    a.add_argument("--new-dir", required=True)
    a.add_argument("--tag", required=True)
    args = p.parse_args(argv)
    {"pick": cmd_pick, "uids": cmd_uids, "local": cmd_local}[args.cmd](args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
