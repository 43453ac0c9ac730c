#!/bin/bash
# demo.sh: roam's first run, for a newcomer, in two minutes and without a
# real mail account.
#
#   contrib/demo.sh         build roam if needed, start a private Dovecot on
#                           127.0.0.1, fill it with ~200 sample messages, and
#                           pull them into demo/Mail with `roam sync`
#   contrib/demo.sh stop    stop the demo server (demo/ stays for a look)
#
# Everything lives in demo/ at the top of the source tree; delete it when done.
# Needs the packages of contrib/install-deps.sh.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
demo=$repo/demo
server=$demo/server
dovecot_ctl=$repo/tests/dovecot/dovecot-ctl
roam=$repo/build/src/roam

say() { printf '\n==> %s\n' "$*"; }

stop() {
  "$dovecot_ctl" stop "$server"
  echo "demo server stopped; remove $demo when you are done with it"
}

start() {
  for tool in cmake ninja g++ dovecot doveadm python3 openssl; do
    if ! command -v "$tool" >/dev/null; then
      echo "demo.sh: $tool is missing; run contrib/install-deps.sh first" >&2
      exit 1
    fi
  done

  if [[ ! -x $roam ]]; then
    say "Building roam (first time only)"
    cmake -S "$repo" -B "$repo/build" -G Ninja
    cmake --build "$repo/build" --target roam
  fi

  say "Starting a private Dovecot in demo/server (127.0.0.1 only)"
  mkdir -p "$demo"
  "$dovecot_ctl" start "$server"
  # shellcheck source=/dev/null
  source "$server/env"

  say "Putting ~200 sample messages on the server"
  python3 "$repo/tests/dovecot/seed.py" --dir "$server" --messages 200 --folders 6 \
    --nested --non-ascii --flags

  # A fresh local side each time, matching the fresh server.
  rm -rf "$demo/Mail" "$demo/state"
  cat >"$demo/roam.conf" <<CONF
# roam configuration for the demo account; see sample.conf for all settings.
[account.demo]
host = 127.0.0.1
port = $IMAP_PORT
# Plain IMAP is acceptable here only because the server is on loopback.
tls = none
allow_plaintext = yes
user = $IMAP_USER
password = $IMAP_PASSWORD
maildir = $demo/Mail
state_dir = $demo/state
layout = verbatim
folders = *
sync = pull
expunge = yes
CONF
  # It holds a password: roam warns about files others can read.
  chmod 600 "$demo/roam.conf"

  say "Running: build/src/roam sync -c demo/roam.conf"
  local rc=0
  (cd "$repo" && build/src/roam sync -c demo/roam.conf) || rc=$?
  if ((rc != 0)); then
    echo "demo.sh: roam sync failed (exit $rc); the server keeps running for a look:" >&2
    echo "  its log is demo/server/log/dovecot.log; contrib/demo.sh stop ends it" >&2
    exit "$rc"
  fi

  say "Done. Your mail is in demo/Mail:"
  (cd "$demo/Mail" && find . -mindepth 1 -type d -name cur -printf '%h\n' | sed 's|^\./||' | sort |
    while read -r folder; do
      printf '  %4d  %s\n' "$(find "$folder/cur" "$folder/new" -type f | wc -l)" "$folder"
    done)
  cat <<TIPS

Read it:          mutt -f demo/Mail/INBOX
Sync again:       build/src/roam sync -c demo/roam.conf
List folders:     build/src/roam list -c demo/roam.conf demo
Change the server (then sync again), e.g.:
                  doveadm -c demo/server/dovecot.conf flags add -u $IMAP_USER '\\Flagged' mailbox INBOX uid 1
Stop the server:  contrib/demo.sh stop
TIPS
}

case ${1:-start} in
  start) start ;;
  stop) stop ;;
  *)
    sed -n '2,12s/^# \{0,1\}//p' "$0" >&2
    exit 2
    ;;
esac
