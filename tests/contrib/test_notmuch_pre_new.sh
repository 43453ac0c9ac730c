#!/bin/sh
# contrib/notmuch/pre-new against a stand-in `roam` on PATH that exits with
# the status in $FAKE_STATUS and records that it ran: which statuses abort
# `notmuch new`, and that the hook stays out of a run started by roam.
set -u
hook=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat > "$dir/roam" <<'FAKE'
#!/bin/sh
echo "$*" >> "$FAKE_LOG"
exit "$FAKE_STATUS"
FAKE
chmod +x "$dir/roam"
export PATH="$dir:$PATH" FAKE_LOG="$dir/log"
failures=0
check() {  # check ROAM_STATUS_OF_FAKE EXPECTED_HOOK_STATUS EXPECTED_CALLS [ROAM_HOOK]
  : > "$FAKE_LOG"
  if [ -n "${4:-}" ]; then
    FAKE_STATUS=$1 ROAM_HOOK=$4 "$hook" 2>/dev/null
  else
    FAKE_STATUS=$1 "$hook" 2>/dev/null
  fi
  got=$?
  calls=$(wc -l < "$FAKE_LOG" | tr -d ' ')
  if [ "$got" != "$2" ] || [ "$calls" != "$3" ]; then
    echo "FAIL: roam exit $1 (ROAM_HOOK=${4:-}): hook exit $got (want $2), roam ran $calls time(s) (want $3)"
    failures=$((failures + 1))
  fi
}
check 0 0 1
check 1 0 1
check 2 2 1
check 130 130 1
check 0 0 0 post_sync_cmd
if [ $failures -eq 0 ]; then
  echo "5 passed, 0 failed"
else
  echo "$((5 - failures)) passed, $failures failed"
  exit 1
fi
