#!/bin/bash
# install-deps.sh: install everything roam needs to build, test, benchmark
# and run its demo, on Debian 12 (or a close relative) with apt.
#
#   contrib/install-deps.sh
#
# Runs apt-get through sudo unless already root.
set -euo pipefail

packages=(
  # Build
  build-essential cmake ninja-build g++
  libboost-dev libboost-filesystem-dev libboost-program-options-dev
  libssl-dev nlohmann-json3-dev zlib1g-dev
  # roam import offlineimap reads OfflineIMAP's SQLite LocalStatus
  libsqlite3-dev
  # Unit and integration tests
  libgtest-dev libgmock-dev dovecot-imapd openssl python3
  # The server matrix (tests/servers/): the parts of Cyrus and Courier that
  # do not conflict with dovecot-imapd; the rest is unpacked below.
  cyrus-common sasl2-bin courier-authdaemon courier-authlib-userdb
  libcourier-unicode4 libgamin0
  # Benchmark against mbsync, and the `roam import mbsync` tests (which
  # skip themselves without it)
  isync
  # roam import's tests sync a corpus with OfflineIMAP first
  offlineimap3
  # Style, and the man pages' lint (tests/docs/check_man_pages.py)
  clang-format mandoc
  # Fuzzing (libFuzzer): clang and its runtime
  clang libclang-rt-14-dev
)

sudo=()
if [[ $EUID -ne 0 ]]; then
  command -v sudo >/dev/null || {
    echo "install-deps.sh: not root and no sudo; run it as root" >&2
    exit 1
  }
  sudo=(sudo)
fi

# noninteractive: no debconf questions (dovecot-core asks about certificates
# otherwise); the tests run their own Dovecot, so the system service that the
# package starts is not needed (tests/dovecot/dovecot-ctl ignores it).
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}"

# cyrus-imapd, courier-imap and dovecot-imapd all conflict (imap-server):
# installing one removes the others. The tests need Dovecot installed and
# only the binaries of the other two, so those packages are downloaded and
# unpacked privately, one directory per server; tests/servers/*-ctl look
# there (ROAM_SERVERS_ROOT). Nothing of theirs is configured or started.
servers_root=${ROAM_SERVERS_ROOT:-/opt/roam-test-servers}
download=$(mktemp -d)
trap 'rm -rf "$download"' EXIT
# (apt-get download warns that it downloads "unsandboxed as root" into this
# private directory; that is harmless.)
unpack() {
  local server=$1 package
  shift
  "${sudo[@]}" rm -rf "$servers_root/$server"
  "${sudo[@]}" mkdir -p "$servers_root/$server"
  for package in "$@"; do
    # A server that cannot be fetched only skips its tests (the ctl script
    # says why); it must not stop the rest of CI.
    if ! (cd "$download" && "${sudo[@]}" apt-get download "$package") ||
      ! "${sudo[@]}" dpkg-deb -x "$download/${package}"_*.deb "$servers_root/$server"; then
      echo "install-deps.sh: warning: cannot fetch $package; the $server tests will be skipped" >&2
      "${sudo[@]}" rm -rf "$servers_root/$server"
      return 0
    fi
  done
}
unpack cyrus cyrus-imapd
unpack courier courier-imap courier-base
