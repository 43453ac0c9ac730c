#!/bin/bash
# bench.sh: time roam against mbsync on the same private Dovecot and corpus.
#
#   bench/bench.sh [--mode pull|both] [--messages N] [--folders F] [--no-fsync]
#                  [--no-incremental] [--keep] [--workdir DIR]
#
# Starts a throwaway Dovecot (tests/dovecot/dovecot-ctl), seeds N messages in
# F folders (default 10,000 in 10, log-normal sizes around 6 KB, 1 KB..2 MB,
# nested and non-ASCII folder names, random flags), then times, for each tool
# into its own empty Maildir:
#   1. the initial pull,
#   2. a re-run with nothing to do,
#   3. an incremental run after one server-side change shared by both tools:
#      100 new messages, new flags on 100, 50 expunged (via doveadm).
# Prints wall-clock seconds and roam/mbsync; a copy goes to bench/out/.
#
# Each tool syncs its own server user holding an identical corpus, so that
# neither sees the other's changes. --mode both runs both tools two-way
# (mbsync: Sync All, Create Both, Expunge Both; roam: sync = both) and adds
# a local change to the incremental scenario, made alike in both Maildirs:
# flags added to 100 files and 20 new files.
#
# ROAM=path/to/roam picks the binary (default: build/src/roam). Without it
# only mbsync is timed. mbsync fsyncs by default (FSync yes), so by default
# both tools pay for durability; --no-fsync sets `FSync no` for mbsync (roam
# is run as configured either way).
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$script_dir/.." && pwd)
dovecot_ctl=$repo/tests/dovecot/dovecot-ctl
seed=$repo/tests/dovecot/seed.py
roam=${ROAM:-$repo/build/src/roam}

messages=10000
folders=10
fsync=yes
mode=pull
incremental=yes
keep=""
workdir=""

usage() {
  sed -n '2,21s/^# \{0,1\}//p' "$0" >&2
  exit 2
}

while [[ $# -gt 0 ]]; do
  case $1 in
    --messages) messages=${2:?}; shift ;;
    --folders) folders=${2:?}; shift ;;
    --no-fsync) fsync=no ;;
    --mode) mode=${2:?}; shift ;;
    --no-incremental) incremental="" ;;
    --keep) keep=1 ;;
    --workdir) workdir=${2:?}; shift ;;
    -h | --help) usage ;;
    *) usage ;;
  esac
  shift
done
[[ $messages =~ ^[0-9]+$ && $folders =~ ^[0-9]+$ && $mode =~ ^(pull|both)$ ]] || usage

command -v mbsync >/dev/null || {
  echo "bench.sh: mbsync not found (apt-get install isync)" >&2
  exit 1
}
have_roam=""
[[ -x $roam ]] && have_roam=1

if [[ -z $workdir ]]; then
  workdir=$(mktemp -d "${TMPDIR:-/tmp}/roam-bench.XXXXXX")
fi
mkdir -p "$workdir"
workdir=$(cd "$workdir" && pwd -P)
# As root the server's mail processes (uid mail) read what we import.
chmod 755 "$workdir"
server=$workdir/server

cleanup() {
  "$dovecot_ctl" stop "$server" || true
  if [[ -z $keep ]]; then
    rm -rf "$workdir"
  else
    echo "bench.sh: kept $workdir"
  fi
}
trap cleanup EXIT

log() { printf 'bench.sh: %s\n' "$*" >&2; }

"$dovecot_ctl" start "$server" >&2
# shellcheck source=/dev/null
source "$server/env"
doveadm_() { doveadm -c "$DOVECOT_CONF" "$@"; }

seed_args=(--folders "$folders" --nested --non-ascii --flags)
mb_user=mbsync-bench
ro_user=roam-bench
log "seeding $messages messages in $folders folders, once per tool"
for user in "$mb_user" "$ro_user"; do
  python3 "$seed" --dir "$server" --user "$user" --messages "$messages" "${seed_args[@]}" >&2
done

# Dovecot indexes a Maildir on first access and caches what clients fetch;
# reading everything once here keeps that cost out of whichever tool runs
# first. The page cache is warm for both tools alike.
log "warming up the server (indexing, page cache)"
for user in "$mb_user" "$ro_user"; do
  doveadm_ fetch -u "$user" 'uid flags size.virtual text' mailbox '*' all >/dev/null
done

mkdir -p "$workdir/mbsync/Mail" "$workdir/roam/Mail" "$workdir/roam/state" "$workdir/logs"
cat >"$workdir/mbsyncrc" <<EOF
# mbsync 1.4 syntax (SSLType; Far/Near). Plain IMAP is fine on loopback.
FSync $fsync

IMAPAccount bench
Host 127.0.0.1
Port $IMAP_PORT
User $mb_user
Pass $IMAP_PASSWORD
SSLType None
AuthMechs LOGIN

IMAPStore bench-far
Account bench

MaildirStore bench-near
Path $workdir/mbsync/Mail/
Inbox $workdir/mbsync/Mail/INBOX
SubFolders Verbatim

Channel bench
Far :bench-far:
Near :bench-near:
Patterns *
$(if [[ $mode == both ]]; then
  printf 'Sync All\nCreate Both\nRemove None\nExpunge Both\n'
else
  printf 'Sync Pull\nCreate Near\nRemove None\nExpunge None\n'
fi)
SyncState *
EOF

cat >"$workdir/roam.conf" <<EOF
[account.bench]
host = 127.0.0.1
port = $IMAP_PORT
tls = none
allow_plaintext = yes
user = $ro_user
password = $IMAP_PASSWORD
maildir = $workdir/roam/Mail
state_dir = $workdir/roam/state
layout = verbatim
folders = *
sync = $mode
expunge = yes
EOF
# They hold a password: roam warns about files others can read.
chmod 600 "$workdir/roam.conf" "$workdir/mbsyncrc"

# Runs a tool, logs its output, and prints its wall time with 3 decimals
# (or FAILED). A failure is reported, not fatal: the other numbers still count.
timed() {
  local name=$1
  shift
  local start end rc=0
  start=$EPOCHREALTIME
  "$@" >"$workdir/logs/$name.log" 2>&1 || rc=$?
  end=$EPOCHREALTIME
  if ((rc != 0)); then
    log "$name failed (exit $rc); last lines of its log:"
    tail -n 5 "$workdir/logs/$name.log" >&2
    echo FAILED
    return
  fi
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f\n", b - a }'
}

run_mbsync() { timed "mbsync-$1" mbsync -c "$workdir/mbsyncrc" -a; }
run_roam() {
  if [[ -n $have_roam ]]; then
    timed "roam-$1" "$roam" sync -c "$workdir/roam.conf"
  else
    echo n/a
  fi
}

# Messages a Maildir tree holds (files in cur/ and new/).
count_messages() {
  find "$1" -type f \( -path '*/cur/*' -o -path '*/new/*' \) | wc -l
}

declare -A seconds
log "mbsync: initial pull"
seconds[mbsync.initial]=$(run_mbsync initial)
log "roam: initial pull"
seconds[roam.initial]=$(run_roam initial)
log "mbsync: no-change re-run"
seconds[mbsync.nochange]=$(run_mbsync nochange)
log "roam: no-change re-run"
seconds[roam.nochange]=$(run_roam nochange)

scenarios=(initial nochange)
if [[ -n $incremental ]]; then
  # One change on the server, seen by both tools: 100 new messages imported
  # by Dovecot itself (so it assigns UIDs as for a delivery), new flags on
  # 100 INBOX messages, 50 other INBOX messages expunged.
  log "changing the server: +100 messages, flags on 100, -50"
  incoming=$workdir/incoming
  owner=()
  if [[ $EUID -eq 0 ]]; then
    owner=(--uid "$MAIL_UID" --gid "$MAIL_GID")
  fi
  python3 "$seed" --maildir "$incoming" --messages 100 --seed 2 "${seed_args[@]}" "${owner[@]}" --quiet
  for user in "$mb_user" "$ro_user"; do
    doveadm_ import -u "$user" "maildir:$incoming" "" all
    mapfile -t inbox_uids < <(doveadm_ search -u "$user" mailbox INBOX all | awk '{ print $2 }')
    flag_uids=$(IFS=,; echo "${inbox_uids[*]:0:100}")
    expunge_uids=$(IFS=,; echo "${inbox_uids[*]:100:50}")
    if [[ -n $flag_uids ]]; then
      doveadm_ flags replace -u "$user" '\Answered \Flagged' mailbox INBOX uid "$flag_uids"
    fi
    if [[ -n $expunge_uids ]]; then
      doveadm_ expunge -u "$user" mailbox INBOX uid "$expunge_uids"
    fi
  done
  if [[ $mode == both ]]; then
    log "changing both Maildirs alike: flags on 100 files, 20 new files"
    python3 "$seed" --maildir "$workdir/local-new" --messages 20 --folders 1 --seed 3 --quiet
    for tool in mbsync roam; do
      python3 - "$workdir/$tool/Mail/INBOX" "$workdir/local-new" <<'PY'
import os, shutil, sys
inbox, new = sys.argv[1], sys.argv[2]
cur = os.path.join(inbox, "cur")
for name in sorted(os.listdir(cur))[100:200]:
    base, _, letters = name.partition(":2,")
    os.rename(os.path.join(cur, name), os.path.join(cur, base + ":2," + "".join(sorted(set(letters + "S")))))
n = 0
for root, _, files in os.walk(new):
    for f in sorted(files):
        if os.path.basename(root) in ("cur", "new"):
            shutil.copy(os.path.join(root, f), os.path.join(inbox, "new", "1700000000.bench%d.host" % n))
            n += 1
PY
    done
  fi

  log "mbsync: incremental"
  seconds[mbsync.incremental]=$(run_mbsync incremental)
  log "roam: incremental"
  seconds[roam.incremental]=$(run_roam incremental)
  scenarios+=(incremental)
fi

server_count() {
  doveadm_ -f tab mailbox status -u "$1" messages '*' | awk -F '\t' 'NR > 1 { n += $NF } END { print n + 0 }'
}

ratio() {
  local r=$1 m=$2
  if [[ $r =~ ^[0-9.]+$ && $m =~ ^[0-9.]+$ ]]; then
    awk -v r="$r" -v m="$m" 'BEGIN { if (m > 0) printf "%.2f", r / m; else print "n/a" }'
  else
    echo n/a
  fi
}

report() {
  echo "roam vs mbsync ($mode): $messages messages, $folders folders, Dovecot $(dovecot --version | cut -d' ' -f1) on 127.0.0.1 (plain IMAP)"
  local roam_label="not found (set ROAM=...)"
  [[ -n $have_roam ]] && roam_label=$roam
  echo "$(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) CPUs, $(mbsync --version 2>&1 | head -n 1), roam: $roam_label"
  echo "mbsync FSync $fsync$([[ $fsync == yes ]] && echo ' (its default)'); server pre-indexed, page cache warm; mbsync runs before roam"
  echo
  printf '%-24s %12s %12s %12s\n' scenario 'mbsync [s]' 'roam [s]' 'roam/mbsync'
  local s label
  for s in "${scenarios[@]}"; do
    case $s in
      initial) label="initial sync" ;;
      nochange) label="no-change re-run" ;;
      incremental) label="incremental$([[ $mode == both ]] && echo ' (+local)' || true)" ;;
    esac
    printf '%-24s %12s %12s %12s\n' "$label" "${seconds[mbsync.$s]}" "${seconds[roam.$s]}" \
      "$(ratio "${seconds[roam.$s]}" "${seconds[mbsync.$s]}")"
  done
  echo
  echo "messages: mbsync server $(server_count "$mb_user") / Maildir $(count_messages "$workdir/mbsync/Mail")$(
    [[ -n $have_roam ]] && echo "; roam server $(server_count "$ro_user") / Maildir $(count_messages "$workdir/roam/Mail")")"
  echo "incremental: the server gets +100 messages, flags on 100, 50 expunged$([[ $mode == both ]] && echo '; each Maildir gets \Seen on 100 files and 20 new files')"
  [[ $mode == both ]] || echo "(mbsync with Expunge None keeps server-expunged messages, flagged T; roam expunge = yes deletes them)"
  return 0
}

mkdir -p "$script_dir/out"
out=$script_dir/out/bench-$(date -u +%Y%m%d-%H%M%S).txt
report | tee "$out"
log "report saved to $out"
