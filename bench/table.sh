#!/bin/bash
# table.sh: the whole benchmark matrix of issue #9 in one table.
#
#   bench/table.sh [bench.sh options, e.g. --runs 3 --mode pull]
#
# Runs bench/bench.sh four times, each on its own fresh Dovecot:
#   corpus A (10,000 messages in 10 folders) on loopback and with --rtt 50,
#   corpus B (--small, 100,000 messages in 1 folder) on loopback and with
#   --rtt 50,
# all in --mode both unless the options say otherwise, then prints one
# table of all rows and saves it as bench/out/table-<time>.md (each run's
# full report is saved beside it by bench.sh).
#
# B's initial sync runs once (--initial-runs 1): mbsync fsyncs each of the
# 100,000 files and takes several minutes per run. The whole matrix takes
# roughly an hour on a 2-CPU machine (an estimate from small corpora, where
# mbsync spent 4-7 ms per message on a first sync), most of it mbsync's
# initial syncs. The environment can shrink it, e.g. for a quick check:
#   TABLE_A='--messages 300 --folders 3' \
#   TABLE_B='--small --messages 2000 --folders 1 --initial-runs 1' \
#   bench/table.sh --runs 2
# TABLE_RTT (default 50) is the round-trip time of the second column of runs.
# ROAM=path/to/roam as for bench.sh.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
read -r -a a_args <<<"${TABLE_A:-}"
read -r -a b_args <<<"${TABLE_B:---small --messages 100000 --folders 1 --initial-runs 1}"
rtt=${TABLE_RTT:-50}

rows=$(mktemp "${TMPDIR:-/tmp}/roam-table.XXXXXX")
trap 'rm -f "$rows"' EXIT

started=$SECONDS
failed=()
# Each configuration on its own: one that fails leaves its rows out, and the
# others still make the table.
run() {
  local name=$1
  shift
  printf 'table.sh: %s: bench.sh %s\n' "$name" "$*" >&2
  # Each run's own report goes to stderr: stdout is for the combined table.
  if ! "$script_dir/bench.sh" --mode both "$@" --rows "$rows" >&2; then
    failed+=("$name")
  fi
}
run "A, loopback" "${a_args[@]}" "$@"
run "A, $rtt ms" "${a_args[@]}" --rtt "$rtt" "$@"
run "B, loopback" "${b_args[@]}" "$@"
run "B, $rtt ms" "${b_args[@]}" --rtt "$rtt" "$@"

mkdir -p "$script_dir/out"
out=$script_dir/out/table-$(date -u +%Y%m%d-%H%M%S).md
{
  echo "roam vs mbsync, $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) CPUs; options: --mode both $*"
  echo "A = 10,000 messages in 10 folders; B = 100,000 small messages in 1 folder; A′/B′ = incremental (see bench.sh)."
  echo "Cells: median wall time, largest peak RSS (MiB); A*/B* mark smaller test corpora (targets in parentheses)."
  echo
  echo "| run | roam | mbsync | roam/mbsync | target |"
  echo "|---|---|---|---|---|"
  cat "$rows"
  echo
  echo "took $(((SECONDS - started) / 60)) min $(((SECONDS - started) % 60)) s"
  if ((${#failed[@]} > 0)); then
    echo "FAILED (rows missing): ${failed[*]}"
  fi
} | tee "$out"
printf 'table.sh: table saved to %s\n' "$out" >&2
((${#failed[@]} == 0))
