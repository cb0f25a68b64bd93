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
          mandoc curl python3 iproute2 nftables)

log() { printf '\n==> %s\n' "$*"; }

install_deps() {
    local missing=() p
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
            grep -q '^install ok installed$' || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        log "build dependencies are installed"
        return
    fi
    log "installing: ${missing[*]}"
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null ||
            { echo "not root and no sudo: as root run apt-get install ${missing[*]}" >&2; exit 1; }
        sudo=(sudo)
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${missing[@]}"
}

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
