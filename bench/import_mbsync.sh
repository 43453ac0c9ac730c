#!/bin/bash
# import_mbsync.sh: how long switching from mbsync takes. Starts a throwaway
# Dovecot, seeds a corpus (10,000 messages in 10 folders by default, as
# bench.sh's corpus A), syncs it with mbsync, then times
#   1. `roam import mbsync` (reads mbsync's state, writes roam's), and
#   2. the first `roam sync` after it (which must move nothing),
# and, for comparison, the first `roam sync` of a copy of the same Maildir
# without an import (roam pairs every message by content: a header fetch).
#
#   bench/import_mbsync.sh [--messages N] [--folders N] [--keep]
#
# ROAM=path/to/roam picks the binary (default: build/src/roam). Needs mbsync
# (Debian: isync), Dovecot and python3; writes under bench/out/import-mbsync/.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
roam=${ROAM:-$repo/build/src/roam}
messages=10000
folders=10
keep=
while (($#)); do
  case $1 in
    --messages) messages=$2; shift 2 ;;
    --folders) folders=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) sed -n '2,14s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
  esac
done
command -v mbsync >/dev/null || { echo "import_mbsync.sh: mbsync is not installed (isync)" >&2; exit 1; }
[[ -x $roam ]] || { echo "import_mbsync.sh: no roam at $roam (set ROAM=...)" >&2; exit 1; }

out=$repo/bench/out/import-mbsync
rm -rf "$out"
mkdir -p "$out"
server=$out/dovecot
stop() { [[ -n $keep ]] || "$repo/tests/dovecot/dovecot-ctl" stop "$server" >/dev/null 2>&1 || true; }
trap stop EXIT
"$repo/tests/dovecot/dovecot-ctl" start "$server" >/dev/null
# shellcheck source=/dev/null
source "$server/env"

# Seconds since the epoch with nanoseconds, for timing one command.
now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$2 - $1:.2f}')"; }

user=import-bench
seed_args=(--folders "$folders" --flags)
((folders > 1)) && seed_args+=(--nested)
echo "seeding $messages messages in $folders folders" >&2
python3 "$repo/tests/dovecot/seed.py" --dir "$server" --user "$user" --messages "$messages" \
  "${seed_args[@]}" --quiet
doveadm -c "$DOVECOT_CONF" fetch -u "$user" 'uid flags size.virtual text' mailbox '*' all >/dev/null

mail=$out/Mail
mkdir -p "$mail"
cat >"$out/mbsyncrc" <<EOF
IMAPAccount acc
Host $IMAP_HOST
Port $IMAP_PORT
User $user
Pass $IMAP_PASSWORD
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account acc

MaildirStore local
Path $mail/
Inbox $mail/INBOX
SubFolders Verbatim

Channel bench
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
EOF

t0=$(now)
mbsync -c "$out/mbsyncrc" -a >"$out/mbsync.log" 2>&1
t_mbsync=$(elapsed "$t0" "$(now)")
files=$(find "$mail" -path '*/cur/*' -o -path '*/new/*' | wc -l)
echo "mbsync: $files messages in ${t_mbsync}s" >&2

# The copy for the run without import, before roam writes anything.
cp -a "$mail" "$out/Mail-content"
find "$out/Mail-content" -name .mbsyncstate -delete

export XDG_STATE_HOME=$out/state
t0=$(now)
"$roam" import mbsync --from "$out/mbsyncrc" -c "$out/roam.conf" >"$out/import.log"
t_import=$(elapsed "$t0" "$(now)")
t0=$(now)
"$roam" sync -c "$out/roam.conf" --json >"$out/first-sync.json"
t_first=$(elapsed "$t0" "$(now)")
totals=$(python3 -c "import json,sys; t=json.load(open(sys.argv[1]))['accounts'][0]['totals']; \
print(' '.join(f'{k}={t[k]}' for k in ('downloaded','uploaded','flags_changed','deleted','server_flags_changed','server_deleted')))" \
  "$out/first-sync.json")

# The same Maildir without import: roam's first sync pairs by content.
sed -e "s|^maildir = .*|maildir = $out/Mail-content|" -e 's|^\[account\.bench\]|[account.content]|' \
  "$out/roam.conf" >"$out/roam-content.conf"
chmod 600 "$out/roam-content.conf"
t0=$(now)
"$roam" sync -c "$out/roam-content.conf" --json >"$out/content-sync.json"
t_content=$(elapsed "$t0" "$(now)")
content_totals=$(python3 -c "import json,sys; t=json.load(open(sys.argv[1]))['accounts'][0]['totals']; \
print(f\"downloaded={t['downloaded']} uploaded={t['uploaded']}\")" "$out/content-sync.json")

printf '%s\n' \
  "corpus: $files messages in $folders folders (mbsync's first sync: ${t_mbsync}s)" \
  "roam import mbsync:            ${t_import}s" \
  "first roam sync after import:  ${t_first}s  ($totals)" \
  "first roam sync without import (pairing by content): ${t_content}s  ($content_totals)" |
  tee "$out/result.txt"
