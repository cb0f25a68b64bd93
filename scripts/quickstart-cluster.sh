#!/bin/bash
# quickstart-cluster.sh - on a fresh Debian 12 machine: install the build
# dependencies, build raftd, and start a 3-node cluster on 127.0.0.1 with
# interleaved logs (Ctrl+C stops it).  Extra arguments go to raftd-cluster,
# e.g. ./scripts/quickstart-cluster.sh -n 5 -l debug
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

PACKAGES=(build-essential autoconf automake pkg-config libmicrohttpd-dev
          libcurl4-openssl-dev libconfig-dev libsystemd-dev libcjson-dev
          libssl-dev libgnutls28-dev
          mandoc curl python3 iproute2 nftables openssl)

. "$top/scripts/deps.sh"

# Build in ./build, unless the source tree itself was configured (then
# automake refuses out-of-tree builds, so build in place).
build() {
    local b
    if [ -f "$top/config.status" ]; then
        b=$top
    else
        b=$top/build
    fi
    if [ ! -x "$top/configure" ]; then
        log "autoreconf -fi"
        autoreconf -fi
    fi
    mkdir -p "$b"
    cd "$b"
    if [ ! -f Makefile ]; then
        log "configure"
        "$top/configure" -q
    fi
    log "make"
    make -s -j"$(nproc)"
    cd "$top"
    BUILT_RAFTD=$b/src/raftd
}

install_deps
build
log "starting a 3-node cluster (Ctrl+C stops it)"
exec "$top/scripts/raftd-cluster" -b "$BUILT_RAFTD" "$@"
