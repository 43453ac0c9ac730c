#!/bin/bash
# bench.sh: time roam against mbsync on the same private Dovecot and corpus.
#
#   bench/bench.sh [--mode pull|both] [--messages N] [--folders F] [--small]
#                  [--rtt MS [--mbit RATE]] [--runs N] [--initial-runs N] [--no-fsync] [--compress]
#                  [--no-incremental] [--rows FILE] [--keep] [--workdir DIR]
#
# Starts a throwaway Dovecot (tests/dovecot/dovecot-ctl), seeds N messages in
# F folders, once per tool, then times each tool into its own Maildir:
#   initial      the first sync into an empty Maildir (--initial-runs times,
#                each into a fresh Maildir and state; default: --runs),
#   no-change    a re-run with nothing to do (--runs times, default 5), after
#                an untimed pause of 2 s (see the no-change loop),
#   incremental  scenario A': before each of --runs runs, the server gets
#                \Flagged on 100 INBOX messages, loses \Seen on 50, gets 100
#                new messages and has 50 expunged; with --mode both each
#                Maildir also gets F on 100 files, 20 new files and 20 files
#                deleted. Both tools get the same messages changed.
# Each cell is the median wall time, with the highest peak RSS of the runs
# (from /usr/bin/time %M). The table goes to stdout and bench/out/. Under it
# the server floor: what connecting, the greeting, a login and one LIST take
# on this server (bench/login_floor.py), which no run of either tool avoids.
#
# Corpora: A is the default, 10,000 messages in 10 folders (log-normal sizes
# around 6 KB, 1 KB..2 MB, nested and non-ASCII folder names, random flags);
# B is `--small --messages 100000 --folders 1`: 100,000 messages of a few
# hundred bytes in INBOX. Other sizes are labelled A* or B* and their targets
# are shown in parentheses only, as they were set for A and B.
#
# --rtt MS sends all IMAP traffic of both tools through bench/delay_proxy.py,
# which adds MS milliseconds of round-trip time (MS/2 each way). Targets are
# given for loopback (no --rtt) and --rtt 50. --mbit RATE also limits the
# proxy's link to RATE Mbit/s each way, shared by all connections (a user's
# line); no target was set for such a link. With --compress it shows what
# compression gains where bandwidth, not the server's CPU, is the limit.
#
# Each tool syncs its own server user holding an identical corpus, so that
# neither sees the other's changes. --mode both runs both tools two-way
# (mbsync: Sync All, Create Both, Expunge Both; roam: sync = both); --mode
# pull (the default) one-way. mbsync runs first in each round; before each
# round the script sleeps 1.2 s, because mbsync pauses one second when a
# Maildir directory changed within the current second, and a pause caused by
# the benchmark's own changes is not the tool's time.
#
# ROAM=path/to/roam picks the binary (default: build/src/roam). Without it
# only mbsync is timed. ROAM_OPTS adds options to roam's command line, and
# ROAM_CONF lines to its config (e.g. ROAM_CONF='connections = 1'). mbsync
# fsyncs by default (FSync yes), so by default
# both tools pay for durability; --no-fsync sets `FSync no` for mbsync (roam
# is run as configured either way). --rows FILE appends the table rows to
# FILE (bench/table.sh uses it to build one table from several runs).
#
# --compress has the Dovecot offer COMPRESS=DEFLATE (imap_zlib), and both
# tools use it: mbsync 1.4 always does when offered (it has no option), and
# roam's config gets `compress = yes` (its default, auto, leaves it off on
# loopback, and the delay proxy is on loopback). Without it neither
# compresses. The delay proxy adds latency but no bandwidth limit, so the
# bench shows compression's cost (the server's CPU), not its gain.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$script_dir/.." && pwd)
dovecot_ctl=$repo/tests/dovecot/dovecot-ctl
seed=$repo/tests/dovecot/seed.py
proxy=$script_dir/delay_proxy.py
incremental_py=$script_dir/incremental.py
login_floor_py=$script_dir/login_floor.py
roam=${ROAM:-$repo/build/src/roam}
# Extra options for roam, say --debug=imap to see its commands in the logs
# (which --keep keeps); they cost time, so not for numbers that count.
read -r -a roam_opts <<<"${ROAM_OPTS:-}"
roam_compress=no

messages=10000
folders=10
small=""
rtt=""
mbit=""
runs=5
initial_runs=""
fsync=yes
mode=pull
incremental=yes
rows_file=""
keep=""
workdir=""

usage() {
  # The comment block at the top is the usage text.
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
  exit 2
}

while [[ $# -gt 0 ]]; do
  case $1 in
    --messages) messages=${2:?}; shift ;;
    --folders) folders=${2:?}; shift ;;
    --small) small=1 ;;
    --rtt) rtt=${2:?}; shift ;;
    --mbit) mbit=${2:?}; shift ;;
    --runs) runs=${2:?}; shift ;;
    --initial-runs) initial_runs=${2:?}; shift ;;
    --no-fsync) fsync=no ;;
    --compress) roam_compress=yes ;;
    --mode) mode=${2:?}; shift ;;
    --no-incremental) incremental="" ;;
    --rows) rows_file=${2:?}; shift ;;
    --keep) keep=1 ;;
    --workdir) workdir=${2:?}; shift ;;
    -h | --help) usage ;;
    *) usage ;;
  esac
  shift
done
initial_runs=${initial_runs:-$runs}
[[ $messages =~ ^[0-9]+$ && $folders =~ ^[1-9][0-9]*$ && $mode =~ ^(pull|both)$ ]] || usage
[[ $runs =~ ^[1-9][0-9]*$ && $initial_runs =~ ^[1-9][0-9]*$ ]] || usage
[[ -z $rtt || $rtt =~ ^[0-9]+(\.[0-9]+)?$ ]] || usage
[[ -z $mbit || ($mbit =~ ^[0-9]+(\.[0-9]+)?$ && -n $rtt) ]] || usage

command -v mbsync >/dev/null || {
  echo "bench.sh: mbsync not found (apt-get install isync)" >&2
  exit 1
}
have_roam=""
[[ -x $roam ]] && have_roam=1

# Peak RSS of a run: GNU time's %M is the largest resident set (KiB) of the
# command. Without /usr/bin/time, getrusage(RUSAGE_CHILDREN) gives the same
# number, without counting the Python wrapper itself.
if [[ -x /usr/bin/time ]]; then
  peak_rss=(/usr/bin/time -f %M -o)
else
  peak_rss=(python3 -c '
import resource, subprocess, sys
rc = subprocess.call(sys.argv[2:])
with open(sys.argv[1], "w") as f:
    f.write("%d\n" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(rc)')
fi

# The corpus label of the table: the targets were set for A and B exactly.
if [[ -z $small && $messages == 10000 && $folders == 10 ]]; then
  corpus=A
elif [[ -n $small && $messages == 100000 && $folders == 1 ]]; then
  corpus=B
elif [[ -n $small ]]; then
  corpus='B*'
else
  corpus='A*'
fi
if [[ -z $rtt ]]; then
  rtt_label=loopback
else
  rtt_label="$rtt ms${mbit:+, $mbit Mbit/s}"
fi

if [[ -z $workdir ]]; then
  workdir=$(mktemp -d "${TMPDIR:-/tmp}/roam-bench.XXXXXX")
fi
mkdir -p "$workdir"
workdir=$(cd "$workdir" && pwd -P)
# As root the server's mail processes (uid mail) read what we import.
chmod 755 "$workdir"
server=$workdir/server
mkdir -p "$workdir/logs"

# When the last bench.sh deleted its trees. ext4 skips inodes freed in the
# last minute when it allocates new ones, scanning past each of them (see the
# initial rounds below), so a run that starts right after another's cleanup
# of tens of thousands of files would time that scan. It waits instead.
cleaned_stamp=${TMPDIR:-/tmp}/roam-bench.cleaned
if [[ -r $cleaned_stamp ]]; then
  cleaned=$(<"$cleaned_stamp")
  if [[ $cleaned =~ ^[0-9]+$ ]] && (($(date +%s) - cleaned < 70)); then
    wait_s=$((70 - ($(date +%s) - cleaned)))
    printf 'bench.sh: waiting %d s: the last bench deleted its files %d s ago\n' \
      "$wait_s" "$(($(date +%s) - cleaned))" >&2
    sleep "$wait_s"
  fi
fi

proxy_pid=""
proxy_log=""
cleanup() {
  # The proxy first: it forwards to the Dovecot that is stopped next.
  if [[ -n $proxy_pid ]]; then
    kill "$proxy_pid" 2>/dev/null || true
    wait "$proxy_pid" 2>/dev/null || true
  fi
  "$dovecot_ctl" stop "$server" || true
  rm -rf "$workdir/old"
  if [[ -z $keep ]]; then
    rm -rf "$workdir"
  else
    echo "bench.sh: kept $workdir"
  fi
  date +%s >"$cleaned_stamp" 2>/dev/null || true
}
trap cleanup EXIT
# An interrupted run must still stop the proxy and Dovecot: exiting from the
# signal handler runs the EXIT trap.
trap 'exit 130' INT TERM

log() { printf 'bench.sh: %s\n' "$*" >&2; }

ROAM_DOVECOT_COMPRESS=$roam_compress "$dovecot_ctl" start "$server" >&2
# shellcheck source=/dev/null
source "$server/env"
doveadm_() { doveadm -c "$DOVECOT_CONF" "$@"; }

# Nested and non-ASCII folder names make seed.py add folders of their own
# (four at least), so a one-folder corpus goes without them.
seed_args=(--folders "$folders" --flags)
((folders > 1)) && seed_args+=(--nested --non-ascii)
[[ -n $small ]] && seed_args+=(--small)
mb_user='mbsync-bench'
ro_user='roam-bench'
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

# Both tools reach the server through the same port: Dovecot's, or the delay
# proxy's in front of it.
imap_port=$IMAP_PORT
if [[ -n $rtt ]]; then
  proxy_log=$workdir/logs/proxy.log
  rm -f "$workdir/proxy.port"
  python3 "$proxy" --target-port "$IMAP_PORT" --rtt "$rtt" ${mbit:+--mbit "$mbit"} \
    --port-file "$workdir/proxy.port" \
    >/dev/null 2>"$proxy_log" &
  proxy_pid=$!
  for _ in $(seq 100); do
    [[ -s $workdir/proxy.port ]] && break
    kill -0 "$proxy_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [[ ! -s $workdir/proxy.port ]]; then
    log "the delay proxy did not start; its log:"
    cat "$proxy_log" >&2
    exit 1
  fi
  imap_port=$(<"$workdir/proxy.port")
  log "delay proxy on port $imap_port: +$rtt ms round trip${mbit:+, $mbit Mbit/s each way,} to Dovecot's $IMAP_PORT"
fi

cat >"$workdir/mbsyncrc" <<EOF
# mbsync 1.4 syntax (SSLType; Far/Near). Plain IMAP is fine on loopback.
FSync $fsync

IMAPAccount bench
Host 127.0.0.1
Port $imap_port
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
port = $imap_port
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
compress = $roam_compress
${ROAM_CONF:-}
EOF
# They hold a password: roam warns about files others can read.
chmod 600 "$workdir/roam.conf" "$workdir/mbsyncrc"

# Connections the proxy has accepted so far.
proxy_opened() { grep -c ' open #' "$proxy_log" || true; }

# Runs a tool, logs its output, and prints "SECONDS PEAK_KIB CONNECTIONS"
# (wall time with 3 decimals; connections through the proxy, 0 without one),
# or FAILED. A failure is reported, not fatal: the other numbers still count.
timed() {
  local name=$1
  shift
  local start end rc=0 before=0 conns=0 kib
  [[ -n $proxy_log ]] && before=$(proxy_opened)
  start=$EPOCHREALTIME
  "${peak_rss[@]}" "$workdir/logs/$name.rss" "$@" >"$workdir/logs/$name.log" 2>&1 || rc=$?
  end=$EPOCHREALTIME
  if ((rc != 0)); then
    log "$name failed (exit $rc); last lines of its log:"
    tail -n 5 "$workdir/logs/$name.log" >&2
    echo FAILED
    return
  fi
  if [[ -n $proxy_log ]]; then
    conns=$(($(proxy_opened) - before))
    # A tool that went around the proxy would be timed on loopback.
    if ((conns == 0)); then
      log "$name made no connection through the delay proxy"
      echo FAILED
      return
    fi
  fi
  # GNU time puts "Command exited with non-zero status" first on failure;
  # the number is always the last line.
  kib=$(tail -n 1 "$workdir/logs/$name.rss")
  awk -v a="$start" -v b="$end" -v k="$kib" -v c="$conns" 'BEGIN { printf "%.3f %d %d\n", b - a, k, c }'
}

# Results, per "tool.scenario": space-separated lists, one entry per run.
declare -A seconds peak conns
record() {
  local key=$1 result=$2 s k c
  read -r s k c <<<"$result"
  seconds[$key]+="$s "
  if [[ $s != FAILED ]]; then
    peak[$key]+="$k "
    conns[$key]+="$c "
    log "  $key: $s s, $((k / 1024)) MB$([[ -n $proxy_log ]] && echo ", $c connection(s) through the proxy" || true)"
  fi
}

# One round: mbsync, then roam, each timed, after a pause that lets the
# current second pass (see the header: mbsync's one-second pause).
round() {
  local scenario=$1 run=$2
  sleep 1.2
  # Each tool starts with nothing of the other's (or of the scenario's
  # changes) waiting to be written back: an fsync flushes the file system's
  # journal, and would otherwise wait for the writes of the tool that ran
  # just before. The sync is not timed.
  sync
  record "mbsync.$scenario" "$(timed "mbsync-$scenario-$run" mbsync -c "$workdir/mbsyncrc" -a)"
  if [[ -n $have_roam ]]; then
    sync
    record "roam.$scenario" "$(timed "roam-$scenario-$run" "$roam" sync -c "$workdir/roam.conf" "${roam_opts[@]}")"
  fi
}

# Messages a Maildir tree holds (files in cur/ and new/).
count_messages() {
  find "$1" -type f \( -path '*/cur/*' -o -path '*/new/*' \) | wc -l
}

scenarios=(initial nochange)
for ((run = 1; run <= initial_runs; run++)); do
  if ((run > 1)); then
    # A fresh start for both: nothing local, no state. A first sync into an
    # empty Maildir changes nothing on the server, with one exception: in
    # --mode both, mbsync's first run (Expunge Both) expunges the messages
    # the corpus marks \Deleted (about 2%), so its later runs see that many
    # fewer messages.
    # The last round's trees are moved aside, not deleted: ext4 does not
    # reuse an inode freed in the last minute or so, and each new file's
    # allocation scans past every such inode (perf: find_inode_bit ->
    # recently_deleted, most of both tools' system time), so a round that
    # follows the deletion of tens of thousands of files gets slower, and
    # more so for the tool that creates files faster. A user's first sync
    # does not follow such a deletion. They are deleted at the end.
    mkdir -p "$workdir/old/$run"
    mv "$workdir/mbsync/Mail" "$workdir/old/$run/mbsync-Mail"
    mv "$workdir/roam/Mail" "$workdir/old/$run/roam-Mail"
    mv "$workdir/roam/state" "$workdir/old/$run/roam-state"
  fi
  mkdir -p "$workdir/mbsync/Mail" "$workdir/roam/Mail" "$workdir/roam/state"
  log "initial sync, run $run of $initial_runs"
  round initial "$run"
done
# A re-run from cron or a timer comes minutes after the last one. Straight
# after the initial sync, roam's summary does not yet vouch for directories
# written in the last two seconds (its racy-timestamp window; mbsync's is
# one second), so the first no-change runs would measure a full check that
# no user sees. The wait is not timed.
sleep 2.1
for ((run = 1; run <= runs; run++)); do
  log "no-change re-run, run $run of $runs"
  round nochange "$run"
done
# What any client pays for a run here, found nothing to do or not: connect,
# greeting, login, one LIST (bench/login_floor.py), on the same path as the
# tools (through the proxy with --rtt). A no-change ratio cannot go below
# this floor over mbsync's time.
floor=$(IMAP_PASSWORD=$IMAP_PASSWORD python3 "$login_floor_py" --port "$imap_port" \
  --user "$ro_user" --runs "$runs" 2>&1) || floor="FAILED: $floor"
log "server floor: $floor"

# A user's INBOX as incremental.py reads it.
listing() {
  doveadm_ -f tab fetch -u "$1" 'uid flags hdr.message-id' mailbox INBOX all >"$2"
}

# The UIDs, in $user's INBOX, of one set of the messages picked for this run.
uids_of() {
  python3 "$incremental_py" uids --pick "$changes/pick.json" --set "$1" --listing "$changes/listing-$user"
}

if [[ -n $incremental ]]; then
  scenarios+=(incremental)
  owner=()
  if [[ $EUID -eq 0 ]]; then
    owner=(--uid "$MAIL_UID" --gid "$MAIL_GID")
  fi
  local_opt=()
  [[ $mode == both ]] && local_opt=(--local)
  for ((run = 1; run <= runs; run++)); do
    log "incremental (A'), run $run of $runs: changing the server$([[ $mode == both ]] && echo ' and both Maildirs' || true)"
    changes=$workdir/changes-$run
    mkdir -p "$changes"
    chmod 755 "$changes"
    # The same messages, by Message-ID, for both tools; another seed each run
    # so that each run changes other messages. They are picked from mbsync's
    # user: in --mode both it lacks the \Deleted messages mbsync expunged,
    # which roam's user still holds, so whatever is picked exists for both.
    listing "$mb_user" "$changes/listing-$mb_user"
    python3 "$incremental_py" pick --listing "$changes/listing-$mb_user" --seed "$run" \
      "${local_opt[@]}" --out "$changes/pick.json" >&2
    # New messages, imported by Dovecot itself so that it assigns UIDs as for
    # a delivery; a different seed each run gives new Message-IDs.
    python3 "$seed" --maildir "$changes/incoming" --messages 100 --seed $((100 + run)) \
      "${seed_args[@]}" "${owner[@]}" --quiet
    for user in "$mb_user" "$ro_user"; do
      [[ $user == "$mb_user" ]] || listing "$user" "$changes/listing-$user"
      set_uids=$(uids_of server_flag)
      [[ -z $set_uids ]] || doveadm_ flags add -u "$user" '\Flagged' mailbox INBOX uid "$set_uids"
      set_uids=$(uids_of server_unseen)
      [[ -z $set_uids ]] || doveadm_ flags remove -u "$user" '\Seen' mailbox INBOX uid "$set_uids"
      set_uids=$(uids_of server_expunge)
      [[ -z $set_uids ]] || doveadm_ expunge -u "$user" mailbox INBOX uid "$set_uids"
      doveadm_ import -u "$user" "maildir:$changes/incoming" "" all
    done
    if [[ $mode == both ]]; then
      python3 "$seed" --maildir "$changes/local-new" --messages 20 --folders 1 --seed $((200 + run)) \
        --flags ${small:+--small} --quiet
      for tool in mbsync roam; do
        [[ $tool == mbsync || -n $have_roam ]] || continue
        python3 "$incremental_py" local --pick "$changes/pick.json" --maildir "$workdir/$tool/Mail/INBOX" \
          --new-dir "$changes/local-new" --tag "bench$run" >&2
      done
    fi
    round incremental "$run"
  done
fi

# Statistics over a list of numbers: the median, and the largest.
median() {
  tr ' ' '\n' <<<"$1" | grep -E '^[0-9.]+$' | sort -g |
    awk '{ v[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
largest() { tr ' ' '\n' <<<"$1" | grep -E '^[0-9]+$' | sort -n | tail -n 1; }
failures() { tr ' ' '\n' <<<"$1" | grep -c FAILED || true; }

# "1.234 s, 12 MB", or why there is no number.
cell() {
  local key=$1 tool=${1%%.*} m k f
  if [[ $tool == roam && -z $have_roam ]]; then
    echo "n/a"
    return
  fi
  f=$(failures "${seconds[$key]:-}")
  if ((f > 0)); then
    echo "FAILED ($f of $(wc -w <<<"${seconds[$key]:-}"))"
    return
  fi
  m=$(median "${seconds[$key]:-}")
  k=$(largest "${peak[$key]:-}")
  printf '%s s, %d MB\n' "$m" "$(((k + 512) / 1024))"
}

ratio_of() {
  local r m
  [[ $(cell "roam.$1") == *' s, '* && $(cell "mbsync.$1") == *' s, '* ]] || {
    echo n/a
    return
  }
  r=$(median "${seconds[roam.$1]}")
  m=$(median "${seconds[mbsync.$1]}")
  awk -v r="$r" -v m="$m" 'BEGIN { if (m > 0) printf "%.2f\n", r / m; else print "n/a" }'
}

# The issue's targets (roam/mbsync, and roam's peak where one is set) for
# corpus, scenario and link; prints "RATIO [PEAK_MB]" or nothing.
target_of() {
  local link=${rtt:-loopback}${mbit:+@$mbit}
  case "${corpus%\*}.$1.$link" in
    A.initial.loopback) echo 0.2 ;;
    A.initial.50) echo 0.25 ;;
    A.nochange.loopback) echo 0.5 ;;
    A.nochange.50) echo 0.1 ;;
    A.incremental.loopback) echo 0.5 ;;
    A.incremental.50) echo 0.25 ;;
    B.initial.loopback) echo 0.2 64 ;;
    B.nochange.loopback) echo 0.1 35 ;;
    B.nochange.50) echo 0.25 ;;
  esac
}

# "≤ 0.2, peak ≤ 64 MB: met", or in parentheses without a verdict for a
# corpus the target was not set for.
target_cell() {
  local scenario=$1 t p text ratio k verdict=met
  read -r t p <<<"$(target_of "$scenario")"
  [[ -n $t ]] || {
    echo "—"
    return
  }
  text="≤ $t${p:+, peak ≤ $p MB}"
  if [[ $corpus == *'*' ]]; then
    echo "($text)"
    return
  fi
  ratio=$(ratio_of "$scenario")
  if [[ $ratio == n/a ]]; then
    echo "$text: n/a"
    return
  fi
  awk -v r="$ratio" -v t="$t" 'BEGIN { exit !(r > t) }' && verdict=missed
  if [[ -n $p ]]; then
    k=$(largest "${peak[roam.$scenario]}")
    (((k + 512) / 1024 > p)) && verdict=missed
  fi
  echo "$text: $verdict"
}

row_label() {
  local name
  case $1 in
    initial) name="$corpus initial" ;;
    nochange) name="$corpus no-change" ;;
    incremental) name="${corpus%\*}′${corpus//[AB]/} incremental" ;;
  esac
  echo "$name, $rtt_label$([[ $mode == pull ]] && echo ', pull' || true)"
}

table_rows() {
  local s
  for s in "${scenarios[@]}"; do
    printf '| %s | %s | %s | %s | %s |\n' "$(row_label "$s")" "$(cell "roam.$s")" \
      "$(cell "mbsync.$s")" "$(ratio_of "$s")" "$(target_cell "$s")"
  done
}

server_count() {
  doveadm_ -f tab mailbox status -u "$1" messages '*' | awk -F '\t' 'NR > 1 { n += $NF } END { print n + 0 }'
}

# The server floor under the table: the least a run takes on this server,
# and what that leaves as the lowest no-change ratio.
floor_line() {
  local f=${floor%% *} nochange
  if [[ ! $f =~ ^[0-9.]+$ ]]; then
    echo "server floor: not measured (${floor:-no no-change runs})"
    return
  fi
  nochange=$(median "${seconds[mbsync.nochange]:-}")
  printf 'server floor (connect, greeting, login, one LIST; bench/login_floor.py, median of %d): %s s (%s)' \
    "$runs" "$f" "${floor#* }"
  if [[ -n $nochange ]]; then
    awk -v f="$f" -v m="$nochange" 'BEGIN { printf "; over mbsync no-change: %.2f, the lowest no-change ratio any client could reach\n", f / m }'
  else
    echo
  fi
}

report() {
  local roam_label="not found (set ROAM=...)" s tool
  [[ -n $have_roam ]] && roam_label=$roam
  echo "roam vs mbsync ($mode): corpus $corpus, $messages $([[ -n $small ]] && echo 'small ' || true)messages in $folders folder(s), $rtt_label$([[ -n $rtt ]] && echo ' round trip (delay proxy)' || true); Dovecot $(dovecot --version | cut -d' ' -f1), plain IMAP"
  echo "$(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) CPUs, $(mbsync --version 2>&1 | head -n 1), roam: $roam_label"
  echo "mbsync FSync $fsync$([[ $fsync == yes ]] && echo ' (its default)' || true); server pre-indexed, page cache warm; mbsync runs before roam; 1.2 s pause before each round"
  echo "median wall time of $initial_runs initial and $runs other runs, largest peak RSS (MB = MiB)"
  echo
  echo "| run | roam | mbsync | roam/mbsync | target |"
  echo "|---|---|---|---|---|"
  table_rows
  echo
  floor_line
  echo
  echo "every run (seconds; peak MB$([[ -n $proxy_log ]] && echo '; connections through the delay proxy' || true)):"
  for s in "${scenarios[@]}"; do
    for tool in mbsync roam; do
      [[ -n ${seconds[$tool.$s]:-} ]] || continue
      printf '  %-20s %s;%s%s\n' "$tool $s" "${seconds[$tool.$s]% }" \
        "$(for k in ${peak[$tool.$s]:-}; do printf ' %d' $(((k + 512) / 1024)); done)" \
        "$([[ -n $proxy_log ]] && echo "; ${conns[$tool.$s]% }" || true)"
    done
  done
  echo
  echo "messages: mbsync server $(server_count "$mb_user") / Maildir $(count_messages "$workdir/mbsync/Mail")$(
    [[ -n $have_roam ]] && echo "; roam server $(server_count "$ro_user") / Maildir $(count_messages "$workdir/roam/Mail")")"
  if [[ $roam_compress == yes ]]; then
    echo "compression: the server offered COMPRESS=DEFLATE and both tools used it (--compress)"
  else
    echo "compression: off (the server did not offer COMPRESS; --compress turns it on for both)"
  fi
  if [[ -n $incremental ]]; then
    echo "incremental: before each run the server gets \\Flagged on 100 INBOX messages, loses \\Seen on 50, gets 100 new and has 50 expunged (fewer when INBOX holds under 400)$([[ $mode == both ]] && echo '; each Maildir gets F on 100 files, 20 new files and 20 deleted' || true)"
  fi
  if [[ $mode == both ]]; then
    echo "(mbsync with Expunge Both expunges the messages the corpus marks \Deleted, about 2%, on its first run; roam expunge = yes only propagates deletions and keeps them)"
  else
    echo "(mbsync with Expunge None keeps server-expunged messages, flagged T; roam expunge = yes deletes them)"
  fi
  return 0
}

mkdir -p "$script_dir/out"
out=$script_dir/out/bench-$corpus-${rtt:-0}ms${mbit:+-${mbit}mbit}-$mode-$(date -u +%Y%m%d-%H%M%S).txt
out=${out//\*/x}
report | tee "$out"
log "report saved to $out"
if [[ -n $rows_file ]]; then
  table_rows >>"$rows_file"
fi
