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
  # Unit and integration tests
  libgtest-dev libgmock-dev dovecot-imapd openssl python3
  # Benchmark against mbsync
  isync
  # Style
  clang-format
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
