# Shared helpers of tests/servers/*-ctl (sourced, not run).
# shellcheck shell=bash

# Where contrib/install-deps.sh unpacks the server packages that conflict with
# dovecot-imapd (cyrus-imapd, courier-imap, courier-base): one directory per
# server under it, each a `dpkg-deb -x` tree.
ROAM_SERVERS_ROOT=${ROAM_SERVERS_ROOT:-/opt/roam-test-servers}

readonly DEFAULT_USER=alice
readonly DEFAULT_PASSWORD=secret
readonly START_TIMEOUT=15

die() {
  printf '%s: %s\n' "$PROG" "$*" >&2
  exit 1
}

# Python 3 for the snippets below: $ROAM_PYTHON3 (the interpreter the build
# resolved, see tests/CMakeLists.txt; a pyenv shim costs ~0.4 s per start)
# or python3 from PATH.
py3=${ROAM_PYTHON3:-python3}

# One free TCP port on 127.0.0.1 (the window until the server binds it is
# covered by retrying start).
pick_port() {
  "$py3" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Succeeds once a server sends its IMAP greeting on PORT.
imap_answers() {
  "$py3" - "$1" <<'PY' 2>/dev/null
import socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1) as s:
    s.settimeout(2)
    sys.exit(0 if s.recv(100).startswith(b"* OK") else 1)
PY
}

wait_until_answers() {
  local port=$1 deadline
  deadline=$((SECONDS + START_TIMEOUT))
  while ((SECONDS < deadline)); do
    imap_answers "$port" && return 0
    sleep 0.1
  done
  return 1
}

# Refuse to wipe a directory that was not made by a ctl script.
check_wipeable() {
  local dir=$1
  [[ -e $dir ]] || return 0
  [[ -d $dir ]] || die "$dir exists and is not a directory"
  [[ -f $dir/env ]] && return 0
  [[ -z $(ls -A "$dir") ]] || die "$dir is not empty and is not a ctl directory; refusing to delete it"
}

# The fixture cannot run here: write an env that makes the harness skip every
# test with REASON (ctest shows them as skipped), and succeed.
write_skip_env() {
  local dir=$1 kind=$2 reason=$3
  mkdir -p "$dir"
  printf "SERVER_KIND='%s'\nSKIP_REASON='%s'\n" "$kind" "${reason//\'/}" >"$dir/env"
  printf '%s: %s; its tests will be skipped\n' "$PROG" "$reason" >&2
  exit 0
}

pid_alive() {
  local pidfile=$1 pid
  [[ -r $pidfile ]] || return 1
  pid=$(<"$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null
}

# Kill the process in PIDFILE (its group too when it leads one) and wait.
kill_pidfile() {
  local pidfile=$1 pid i
  pid_alive "$pidfile" || return 0
  pid=$(<"$pidfile")
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

# Value of KEY in DIR/env, empty when absent.
env_value() {
  local dir=$1 key=$2
  [[ -r $dir/env ]] || return 0
  sed -n "s/^$key='\(.*\)'\$/\1/p" "$dir/env"
}

# Where a server's runtime goes: a tmpfs when there is one (Cyrus and Courier
# fsync every message; on a disk, seeding 2,000 messages took minutes), else
# /tmp. Unprivileged server users must reach it, and socket paths are short.
runtime_base() {
  if [[ -d /dev/shm && -w /dev/shm && -k /dev/shm ]]; then
    printf '/dev/shm\n'
  else
    printf '/tmp\n'
  fi
}
