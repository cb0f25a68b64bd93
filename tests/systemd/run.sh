#!/bin/bash
# tests/systemd/run.sh - raftd under a real systemd, in systemd-nspawn
# containers booted from a cached Debian rootfs.
#
# What it checks, with the Debian package (debian/) it builds:
#   the package (dpkg-buildpackage -b -us -uc in a copy of the source tree):
#     - raftd, raftctl, raftd-bench, the unit in /lib/systemd/system,
#       /etc/raftd.conf as its only conffile, /etc/raftd/ mode 700, the man
#       pages and README; lintian finds no error (when installed)
#   single node (one container, private network, member 127.0.0.1:7001):
#     - "apt-get install ./raftd.deb" (offline: the rootfs has the runtime
#       libraries): the unit is loaded (the postinst's daemon-reload), neither
#       enabled nor started; dpkg lists the conffile; "man -w" finds raftd(8),
#       raftd.conf(5), raftctl(1), raftd-bench(1); raftctl and raftd-bench are
#       on PATH; "systemd-analyze verify" accepts the unit
#     - without a peer secret the service fails and says how to make one;
#       "raftd --new-secret" makes one (root's, mode 600), the unit passes
#       it to the dynamic user with LoadCredential=
#     - "systemctl enable --now raftd" gets active/running, READY=1 and
#       STATUS= come from the main PID (NotifyAccess=main), StatusText
#       becomes "Leader, term N"
#     - the sandbox lets it start: a dynamic non-root user, no capabilities,
#       /var/lib/raftd a StateDirectory under /var/lib/private
#     - JOURNAL_STREAM is detected: journalctl -u raftd RAFT_EVENT=
#       became_leader -o json has RAFT_NODE_ID, RAFT_TERM, RAFT_STATE=Leader
#       and nothing of raftd's went through stdout/stderr
#     - curl /status answers; a key PUT through /v2/keys survives
#       "systemctl restart raftd" (state kept under DynamicUser)
#     - "systemctl stop raftd": STOPPING=1 reaches systemd, the daemon logs
#       that it stops, ExecMainStatus=0, Result=success
#     - systemd-analyze security: exposure at most 1.5; WatchdogUSec=15s
#       and WATCHDOG=1 from the main PID
#     - "systemctl reload raftd": RELOADING=1, RAFT_EVENT=reloaded saying
#       what changed, /status settings changed in the same process; an
#       invalid file: RAFT_EVENT=reload_failed naming file:line, nothing
#       changed
#     - the watchdog: SIGSTOP raftd, systemd kills it after WatchdogSec
#       ("Watchdog timeout" in the journal), restarts it, and it serves
#     - a broken config: "raftd --check-config" exits 78 naming file:line;
#       the service fails with 78 and StatusText "bad configuration:
#       file:line: ...", is not restarted in a loop, and says so once in
#       the journal
#     - "raftctl leader" without flags reads the members of /etc/raftd.conf
#     - the machine's own name on 127.0.1.1 in /etc/hosts as its member
#       URL, another member elsewhere: --check-config exits 78
#     - a members list that differs from the one the data directory was
#       bootstrapped with: the same, with the reason in "systemctl status"
#     - a data_dir outside the StateDirectory (read-only under
#       ProtectSystem=strict) fails with a StatusText naming it
#     - TLS (needs openssl on the host): the node switched to an https://
#       member URL keeps its data; the key in /etc/raftd/ comes as the
#       credential raftd_tls-key.pem, the certificate is read from
#       /etc/ssl/raftd/; plain http gets "serves HTTPS only"; "systemctl
#       reload raftd" serves a renewed certificate to new connections in
#       the same process and term, and keeps the old one when the new file
#       is broken (RAFT_EVENT=tls_reload_failed naming it)
#     - an upgrade (the package repacked as version V+up1) restarts the
#       running raftd, keeps the edited config without asking
#     - "dpkg -r raftd" stops the running service, removes the programs, the
#       unit and the man pages, keeps the edited /etc/raftd.conf and the data;
#       installing again keeps that config; "dpkg -P raftd" removes
#       /etc/raftd.conf and /var/lib/raftd, and keeps /etc/raftd/peer-secret
#   three nodes (three containers on a private bridge, 10.213.0.11-13, no
#   address on the host side, each installs the package, then gets the same
#   config without "id" and the same peer secret):
#     - each node finds itself by its addresses inside the sandbox
#       (getifaddrs over AF_NETLINK), one leader, two "Follower of node L"
#     - a write through a follower is readable everywhere
#     - stopping the leader elects another one with a higher term, and the
#       old leader rejoins as a follower without disturbing it
#     - a follower stopped with SIGSTOP is restarted by the watchdog,
#       rejoins as a follower of the same leader and term, and serves
#
# The Debian rootfs (debootstrap, about a minute) is cached; each container
# boots from an overlay of it (plus a layer with the package), and installs
# the package. Containers are powered off and every temporary directory
# removed on exit or interrupt.
#
# Environment:
#   RAFTD_SYSTEMD_CACHE     cached rootfs directory
#                           (default /var/tmp/raftd-systemd-rootfs)
#   RAFTD_SYSTEMD_MIRROR    Debian mirror (default http://deb.debian.org/debian)
#   RAFTD_SYSTEMD_DEB       the raftd_*.deb to test (default: build one with
#                           "dpkg-buildpackage -b -us -uc" from a copy of
#                           SRCDIR's files, git's tracked and untracked
#                           non-ignored ones in a git checkout; needs
#                           debhelper and dpkg-dev, DEB_BUILD_OPTIONS
#                           defaults to parallel=2)
#   RAFTD_SYSTEMD_CLUSTER   0 skips the three-node part (default 1)
#   RAFTD_SYSTEMD_KEEP      1 keeps the work directory (default 0)
#   SRCDIR                  source tree (default: this script's ../..)
#   CI=true                 installs debootstrap, systemd-container,
#                           debhelper and dpkg-dev if missing (apt-get)
# Needs root, systemd-nspawn, debootstrap and network access to the mirror
# on the first run. Exit status: 0 all passed, 1 failures, 77 skipped. The
# last line of output is "N passed, N failed".

# Single-quoted eval/bash -c/sh -c snippets expand their variables later.
# shellcheck disable=SC2016
set -uo pipefail
exec < /dev/null

here=$(cd "$(dirname "$0")" && pwd) || exit 99
: "${SRCDIR:=$here/../..}"
SRCDIR=$(cd "$SRCDIR" && pwd) || exit 99
CACHE=${RAFTD_SYSTEMD_CACHE:-/var/tmp/raftd-systemd-rootfs}
MIRROR=${RAFTD_SYSTEMD_MIRROR:-http://deb.debian.org/debian}
CLUSTER=${RAFTD_SYSTEMD_CLUSTER:-1}
KEEP=${RAFTD_SYSTEMD_KEEP:-0}
# Packages of the cached rootfs: a bootable systemd, curl and ip for the
# checks, man for "systemd-analyze verify" (Documentation=man:...) and
# "man -w", and raftd's runtime libraries (Debian 12 names): the package's
# dependencies, so that "apt-get install ./raftd.deb" needs no network.
PKGS=systemd,systemd-sysv,dbus,curl,iproute2,man-db,libmicrohttpd12,libcurl4,libconfig9,libcjson1,libsystemd0
CACHE_VERSION=1

T0=$SECONDS
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
note() { echo "note: $*"; }
info() { echo "--- $* ($((SECONDS - T0)) s)"; }
check() { # check DESCRIPTION COMMAND...
    local d=$1
    shift
    if "$@"; then ok "$d"; else fail "$d"; fi
}
summary_done=
finish() { # the last line
    echo "$passed passed, $failed failed"
    summary_done=1
}
skip() {
    echo "SKIP: $*"
    finish
    exit 77
}
# wait_for SECONDS COMMAND...: poll every 0.2 s until COMMAND succeeds.
wait_for() {
    local end=$((SECONDS + $1))
    shift
    while :; do
        "$@" && return 0
        [ $SECONDS -ge $end ] && return 1
        sleep 0.2
    done
}

# ---- prerequisites ---------------------------------------------------------
[ "$(id -u)" -eq 0 ] || skip "needs root (systemd-nspawn, debootstrap)"
if ! command -v systemd-nspawn >/dev/null || ! command -v debootstrap >/dev/null; then
    if [ "${CI:-}" = true ] && command -v apt-get >/dev/null; then
        echo "installing debootstrap and systemd-container"
        DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q \
            debootstrap systemd-container >/dev/null 2>&1 ||
            skip "apt-get install debootstrap systemd-container failed"
    fi
fi
for t in systemd-nspawn debootstrap nsenter flock tar python3 setsid timeout ip; do
    command -v $t >/dev/null ||
        skip "$t not found (apt-get install debootstrap systemd-container util-linux iproute2 python3)"
done

work=$(mktemp -d /var/tmp/raftd-systemd.XXXXXX) || exit 99
tag=$$
containers=()        # names of the containers we booted
declare -A NSPAWN PID1 ROOT ASKED
bridge=
route_added=

# ---- cleanup ---------------------------------------------------------------
poweroff_container() { # name: ask the container's systemd to power off
    local np=${NSPAWN[$1]:-} p1=${PID1[$1]:-}
    [ -n "$np" ] && [ -z "${ASKED[$1]:-}" ] || return 0
    ASKED[$1]=1
    if kill -0 "$np" 2>/dev/null && [ -n "$p1" ] && kill -0 "$p1" 2>/dev/null; then
        timeout 15 nsenter -t "$p1" -m -u -i -n -p -C -r -w \
            env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
            systemctl poweroff --no-block >/dev/null 2>&1
    fi
}
stop_container() { # name: poweroff, wait for nspawn, kill only it if stuck
    local name=$1 np=${NSPAWN[$1]:-} i
    [ -n "$np" ] || return 0
    poweroff_container "$name"
    for i in $(seq 1 150); do
        kill -0 "$np" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 "$np" 2>/dev/null; then
        echo "container $name did not power off in 30 s: SIGTERM to nspawn $np"
        kill -TERM "$np" 2>/dev/null
        for i in $(seq 1 50); do
            kill -0 "$np" 2>/dev/null || break
            sleep 0.2
        done
        kill -0 "$np" 2>/dev/null && kill -KILL "$np" 2>/dev/null
    fi
    wait "$np" 2>/dev/null
    NSPAWN[$name]=
    rm -rf "/run/systemd/nspawn/propagate/$name" 2>/dev/null
}
remove_tree() { # remove a rootfs copy unless something is still mounted in it
    local d=$1
    [ -d "$d" ] || return 0
    if findmnt -rn -o TARGET | grep -q "^$d/"; then
        echo "not removing $d: something is still mounted under it"
        return 1
    fi
    rm -rf --one-file-system "$d"
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -z "$summary_done" ]; then
        case $rc in
        130|143) echo "interrupted"; failed=$((failed + 1)) ;;
        esac
        [ $failed -eq 0 ] && failed=1   # stopped early without saying why
    fi
    local c
    for c in "${containers[@]}"; do
        poweroff_container "$c"
    done
    for c in "${containers[@]}"; do
        stop_container "$c"
    done
    [ -n "$bridge" ] && ip link del "$bridge" 2>/dev/null
    [ -n "$route_added" ] && ip route del blackhole "$route_added" 2>/dev/null
    if [ "$KEEP" = 1 ]; then
        echo "kept $work"
    else
        for c in "${containers[@]}"; do
            remove_tree "$work/$c"
        done
        remove_tree "$work"
    fi
    [ -n "$summary_done" ] || finish
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- the Debian package ----------------------------------------------------
# dpkg-buildpackage -b -us -uc (debian/) in a copy of the source tree, so
# that the tree itself (maybe configured in place, or by CI) is untouched;
# or the package RAFTD_SYSTEMD_DEB names. Its files go to $stage too, where
# the checks below read the unit.
stage=$work/stage
build_log=$work/build.log
deb=${RAFTD_SYSTEMD_DEB:-}
if [ -n "$deb" ]; then
    deb=$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb") ||
        { fail "RAFTD_SYSTEMD_DEB=$RAFTD_SYSTEMD_DEB not found"; exit 1; }
    info "using the package $deb"
else
    if ! command -v dpkg-buildpackage >/dev/null || ! command -v dh >/dev/null; then
        if [ "${CI:-}" = true ] && command -v apt-get >/dev/null; then
            echo "installing debhelper and dpkg-dev"
            DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q \
                --no-install-recommends debhelper dpkg-dev >/dev/null 2>&1
        fi
        command -v dpkg-buildpackage >/dev/null && command -v dh >/dev/null ||
            skip "dpkg-buildpackage or dh not found (apt-get install debhelper dpkg-dev), and no RAFTD_SYSTEMD_DEB"
    fi
    info "building the Debian package (dpkg-buildpackage -b -us -uc)"
    build() {
        local src=$work/src
        mkdir -p "$src" || return 1
        # the tracked and the new (not ignored) files, as they are now
        if git -C "$SRCDIR" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
            git -C "$SRCDIR" ls-files -z --cached --others --exclude-standard |
                tar -C "$SRCDIR" --null -T - --ignore-failed-read -cf - |
                tar -C "$src" -xf - || return 1
        else
            tar -C "$SRCDIR" --exclude=./.git --exclude=./build \
                --exclude=./build-test --exclude=./debian/raftd \
                --exclude=./debian/.debhelper -cf - . | tar -C "$src" -xf - ||
                return 1
        fi
        cd "$src" &&
            DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-parallel=2} \
                dpkg-buildpackage -b -us -uc
    }
    if ! (build) >"$build_log" 2>&1; then
        tail -n 30 "$build_log"
        fail "dpkg-buildpackage -b -us -uc (log above)"
        exit 1
    fi
    deb=$(find "$work" -maxdepth 1 -name 'raftd_*.deb' | head -n 1)
    check "dpkg-buildpackage -b -us -uc made ${deb##*/}" [ -n "$deb" ]
    [ -n "$deb" ] || exit 1
    nwarn=$(grep -c 'warning:' "$build_log")
    [ "$nwarn" -gt 0 ] &&
        note "$nwarn compiler warnings with Debian's flags: $(grep 'warning:' "$build_log" | head -n 3 | cut -c 1-160 | tr '\n' ' ')"
    rm -rf --one-file-system "$work/src"
fi
contents=$(dpkg-deb -c "$deb" | awk '{print $1, $NF}') ||
    { fail "dpkg-deb -c $deb"; exit 1; }
has() { grep -qxF -e "$1 ./$2" <<<"$contents"; }
check "the package has /usr/sbin/raftd, /usr/bin/raftctl and /usr/bin/raftd-bench" \
    eval 'has -rwxr-xr-x usr/sbin/raftd && has -rwxr-xr-x usr/bin/raftctl &&
          has -rwxr-xr-x usr/bin/raftd-bench'
check "  ... the unit in /lib/systemd/system/raftd.service" \
    has -rw-r--r-- lib/systemd/system/raftd.service
check "  ... /etc/raftd.conf and /etc/raftd/ (drwx------)" \
    eval 'has -rw-r--r-- etc/raftd.conf && has drwx------ etc/raftd/'
for m in man8/raftd.8 man5/raftd.conf.5 man1/raftctl.1 man1/raftd-bench.1; do
    check "  ... the man page /usr/share/man/$m.gz" has -rw-r--r-- "usr/share/man/$m.gz"
done
check "  ... /usr/share/doc/raftd/README.md.gz and copyright" \
    eval 'has -rw-r--r-- usr/share/doc/raftd/README.md.gz &&
          has -rw-r--r-- usr/share/doc/raftd/copyright'
mkdir -p "$work/control"
dpkg-deb -e "$deb" "$work/control" 2>/dev/null
check "  ... /etc/raftd.conf is its only conffile" \
    [ "$(cat "$work/control/conffiles" 2>/dev/null)" = /etc/raftd.conf ]
if command -v lintian >/dev/null; then
    lint=$(lintian "$deb" 2>&1 | grep -v '^running with root privileges')
    [ -n "$lint" ] && echo "$lint" | sed 's/^/  lintian: /'
    check "lintian ${deb##*/}: no errors" eval '! grep -q "^E: " <<<"$lint"'
else
    note "lintian not found: the package is not linted"
fi
dpkg-deb -x "$deb" "$stage" || { fail "dpkg-deb -x $deb"; exit 1; }
unit_src=$stage/lib/systemd/system/raftd.service
[ -f "$unit_src" ] || exit 1
# The paths the unit runs raftd with.
execstart=$(sed -n 's/^ExecStart=//p' "$unit_src" | head -n 1)
raftd_bin=${execstart%% *}
conf_path=$(sed -n 's/.*--config[= ]\([^ ]*\).*/\1/p' <<<"$execstart")
: "${conf_path:=/etc/raftd.conf}"
if [ ! -x "$stage$raftd_bin" ]; then
    fail "the unit's ExecStart binary $raftd_bin is not in the package"
    exit 1
fi
info "the package has $raftd_bin, config $conf_path"

# ---- cached rootfs ---------------------------------------------------------
# shellcheck source=/dev/null
suite=$(. /etc/os-release 2>/dev/null; echo "${VERSION_CODENAME:-bookworm}")
key="v$CACHE_VERSION $suite $MIRROR $PKGS"
mkdir -p "$CACHE" || skip "cannot create $CACHE"
# Runs share the cached rootfs (a read-only overlay layer) under a shared
# lock; building it takes the lock exclusively.
exec 8>"$CACHE/.lock"
flock -s -w 1200 8 || skip "cache $CACHE is locked by another run"
cache_ok() {
    [ "$(cat "$CACHE/rootfs.key" 2>/dev/null)" = "$key" ] &&
        [ -x "$CACHE/rootfs/lib/systemd/systemd" ]
}
if ! cache_ok; then
    flock -x -w 1200 8 || skip "cache $CACHE is locked by another run"
fi
if ! cache_ok; then
    info "debootstrap $suite into $CACHE (first run: about a minute)"
    rm -rf --one-file-system "$CACHE/rootfs" "$CACHE/rootfs.new" "$CACHE/rootfs.key"
    if ! timeout 1200 debootstrap --variant=minbase --include="$PKGS" \
            "$suite" "$CACHE/rootfs.new" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1; then
        tail -n 15 "$CACHE/debootstrap.log"
        rm -rf --one-file-system "$CACHE/rootfs.new"
        skip "debootstrap $suite from $MIRROR failed (log above, $CACHE/debootstrap.log)"
    fi
    r=$CACHE/rootfs.new
    # Every container gets its own machine id and hostname; no getty on the
    # read-only console; no apt timers.
    : >"$r/etc/machine-id"
    for u in console-getty.service getty@.service apt-daily.timer \
             apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer \
             systemd-timesyncd.service; do
        ln -sf /dev/null "$r/etc/systemd/system/$u"
    done
    rm -rf "$r/var/cache/apt/archives/"*.deb
    mv "$r" "$CACHE/rootfs" && echo "$key" >"$CACHE/rootfs.key"
else
    info "using the cached rootfs $CACHE/rootfs"
fi
flock -s 8   # back to shared (a no-op when it already was)
grep -q overlay /proc/filesystems || skip "no overlayfs in this kernel"

# The raftd layer: the package as /root/raftd.deb; each container
# installs it after booting.
layer=$work/layer
mkdir -p "$layer/root" && chmod 700 "$layer/root"
cp "$deb" "$layer/root/raftd.deb" ||
    { fail "copying the package into the raftd layer"; exit 1; }
# The same package as a newer version (Version: V+up1), for an upgrade.
dpkg-deb -R "$deb" "$work/up" &&
    sed -i 's/^Version: .*/&+up1/' "$work/up/DEBIAN/control" &&
    dpkg-deb -b "$work/up" "$layer/root/raftd-up.deb" >/dev/null ||
    { fail "repacking the package as a newer version"; exit 1; }
rm -rf "$work/up"
# install_deb NAME [DEB]: "apt-get install ./raftd.deb" (or /root/DEB) in
# container NAME, as a lab machine does (its runtime libraries are in the
# rootfs: no network).
install_deb() {
    cin "$1" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends "/root/${2:-raftd.deb}" >"$work/$1.apt.log" 2>&1 &&
        [ "$(cin "$1" dpkg-query -W -f='${Status}' raftd)" = "install ok installed" ] &&
        return 0
    tail -n 10 "$work/$1.apt.log"
    return 1
}

# ---- containers ------------------------------------------------------------
# Each container's root is an overlay (its own upper directory over the raftd
# layer and the cached rootfs), mounted in a private mount namespace that
# ends with the container. ROOT[name] is the upper directory: what the
# container wrote, and where files for it are put before it boots.
new_root() { # name: an upper directory with its own machine id and hostname
    local name=$1 d=$work/$1
    mkdir -p "$d/upper/etc" "$d/work" "$d/root" || return 1
    tr -d '-' </proc/sys/kernel/random/uuid >"$d/upper/etc/machine-id"
    echo "$name" >"$d/upper/etc/hostname"
    ROOT[$name]=$d/upper
}
# cin NAME COMMAND...: run COMMAND in container NAME (bounded: 60 s).
cin() {
    local name=$1
    shift
    nsenter -t "${PID1[$name]}" -m -u -i -n -p -C -r -w \
        env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
        SYSTEMD_PAGER=cat SYSTEMD_COLORS=0 \
        timeout -k 5 60 "$@"
}
boot() { # name nspawn-network-options...
    local name=$1
    shift
    containers+=("$name")
    local d=$work/$name
    # shellcheck disable=SC2016
    setsid unshare -m --propagation private sh -c '
        mount -t overlay overlay -o "lowerdir=$1:$2,upperdir=$3/upper,workdir=$3/work" "$3/root" &&
        shift 3 && exec systemd-nspawn "$@"' sh "$layer" "$CACHE/rootfs" "$d" \
        -D "$d/root" --boot --register=no --keep-unit --machine="$name" \
        --console=read-only "$@" >"$work/$name.console" 2>&1 8>&- &
    NSPAWN[$name]=$!
    local np=$! p=
    for _ in $(seq 1 100); do
        p=$(pgrep -P "$np" 2>/dev/null | head -n 1)
        [ -n "$p" ] && [ "$(cat "/proc/$p/comm" 2>/dev/null)" = systemd ] && break
        kill -0 "$np" 2>/dev/null || break
        p=
        sleep 0.2
    done
    if [ -z "$p" ]; then
        tail -n 15 "$work/$name.console"
        return 1
    fi
    PID1[$name]=$p
    # systemctl needs PID 1's private bus socket, made early in the boot.
    wait_for 30 cin "$name" test -S /run/systemd/private
    local st
    st=$(cin "$name" systemctl is-system-running --wait 2>&1)
    case $st in
    running) ;;
    degraded)
        note "$name booted degraded: $(cin "$name" systemctl --failed --plain --no-legend | awk '{print $1}' | tr '\n' ' ')" ;;
    *)
        echo "$name: systemctl is-system-running: $st"
        tail -n 15 "$work/$name.console"
        return 1 ;;
    esac
}
prop() { # name property: one property of raftd.service
    cin "$1" systemctl show -P "$2" raftd
}
# jq-like filter over "journalctl -o json" lines on stdin:
# jmatch FIELD=VALUE...: print the JSON of matching entries, one per line.
jmatch() {
    python3 -c '
import json, sys
want = dict(a.split("=", 1) for a in sys.argv[1:])
for line in sys.stdin:
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if all(e.get(k) == v for k, v in want.items()):
        print(json.dumps(e, sort_keys=True))
' "$@"
}
jget() { # jget FIELD: that field of the first JSON entry on stdin
    python3 -c '
import json, sys
for line in sys.stdin:
    print(json.loads(line).get(sys.argv[1], "")); break
' "$1"
}
write_conf() { # name: config text on stdin goes to the unit's config path
    if [ -n "${PID1[$1]:-}" ]; then
        cin "$1" sh -c 'cat >"$1"' sh "$conf_path"
    else
        mkdir -p "$(dirname "${ROOT[$1]}$conf_path")" &&
            cat >"${ROOT[$1]}$conf_path"
    fi
}

none_exist() { # name path...: none of the paths exists in the container
    local name=$1
    shift
    cin "$name" sh -c 'for f; do [ -e "$f" ] || [ -L "$f" ] && exit 1; done; exit 0' sh "$@"
}
put_secret() { # name: the peer secret on stdin, root's, mode 600
    cin "$1" sh -c 'umask 077; cat >"$1"' sh "$secret_path"
}

# ==== single node ===========================================================
info "single node: booting a container"
n1=rsd${tag}s
new_root "$n1" || { fail "preparing the container directory"; exit 1; }
if ! boot "$n1" --private-network; then
    skip "systemd-nspawn --boot did not come up here (console above)"
fi
info "single node: booted, installing the package"
# The package, as on a lab machine: apt install ./raftd_*.deb.
check "apt-get install ./${deb##*/}: installed" install_deb "$n1"
check "  ... the unit is loaded without a daemon-reload (the postinst did it): $(prop "$n1" FragmentPath)" \
    eval '[ "$(prop "$n1" LoadState)" = loaded ] &&
          [ "$(prop "$n1" FragmentPath)" = /lib/systemd/system/raftd.service ]'
check "  ... neither enabled nor started (is-enabled: $(cin "$n1" systemctl is-enabled raftd 2>&1), $(prop "$n1" ActiveState))" \
    eval '[ "$(cin "$n1" systemctl is-enabled raftd 2>&1)" = disabled ] &&
          [ "$(prop "$n1" ActiveState)" = inactive ]'
check "  ... dpkg lists /etc/raftd.conf as a conffile" \
    grep -q "^ /etc/raftd.conf [0-9a-f]\{32\}\$" <(cin "$n1" dpkg-query -W -f='${Conffiles}\n' raftd)
for m in raftd raftd.conf raftctl raftd-bench; do
    mp=$(cin "$n1" man -w "$m" 2>&1)
    check "  ... man -w $m: $mp" grep -q "^/usr/share/man/man[158]/$m\.[158]\.gz\$" <<<"$mp"
done
check "  ... raftctl and raftd-bench on PATH (/usr/bin), raftctl --help" \
    eval '[ "$(cin "$n1" sh -c "command -v raftctl; command -v raftd-bench")" = "/usr/bin/raftctl
/usr/bin/raftd-bench" ] && cin "$n1" raftctl --help >/dev/null'
check "  ... raftd --version: $(cin "$n1" raftd --version 2>&1)" \
    eval '[ "$(cin "$n1" raftd --version)" = "raftd $(dpkg-deb -f "$deb" Version)" ]'
write_conf "$n1" <<'EOF'
# tests/systemd: a single-node cluster
members = ( { id = 1; url = "http://127.0.0.1:7001"; } );
# small, so that the test sees a snapshot taken under the unit's sandbox
snapshot_entries = 20;
snapshot_keep_entries = 5;
EOF
# The peer secret: without one the service does not start, and says how
# to make one; "raftd --new-secret" makes it (root's, mode 600) and the
# unit hands it to the dynamic user as a credential.
secret_dir=$(sed -n 's/^LoadCredential=raftd://p' "$unit_src" | head -n 1)
secret_path=${secret_dir%/}/peer-secret
check "the unit passes the files of $secret_dir as credentials" [ -n "$secret_dir" ]
check "  ... the package made $secret_dir, mode 700" \
    [ "$(cin "$n1" stat -c %a "$secret_dir")" = 700 ]
cin "$n1" systemctl start raftd >/dev/null 2>&1
st=$(cin "$n1" systemctl status raftd --no-pager -l -n 8 2>&1)
echo "$st" | sed 's/^/  | /' | cut -c 1-200
check "without a peer secret the service fails" \
    [ "$(prop "$n1" ActiveState)" != active ]
check "  ... and systemctl status says how to make one" \
    grep -q -- "--new-secret" <<<"$st"
cin "$n1" systemctl stop raftd >/dev/null 2>&1
cin "$n1" systemctl reset-failed raftd >/dev/null 2>&1
out=$(cin "$n1" "$raftd_bin" --new-secret "$secret_path" 2>&1)
check "raftd --new-secret $secret_path" [ $? -eq 0 ]
echo "  $out" | cut -c 1-200
check "  ... a root-owned file of mode 600 with 64 hex digits" \
    eval '[ "$(cin "$n1" stat -c %U:%a "$secret_path")" = root:600 ] &&
          cin "$n1" grep -qxE "[0-9a-f]{64}" "$secret_path"'
out=$(cin "$n1" "$raftd_bin" --new-secret "$secret_path" 2>&1)
check "  ... and it is never overwritten" [ $? -ne 0 ]

check "systemd-analyze verify raftd.service" \
    cin "$n1" systemd-analyze verify raftd.service
check "raftd --check-config accepts the test config" \
    cin "$n1" "$raftd_bin" --check-config --config "$conf_path"

# Debug logging of PID 1 shows every sd_notify message it gets and from whom.
cin "$n1" systemd-analyze log-level debug
out=$(cin "$n1" systemctl enable --now raftd 2>&1)
check "systemctl enable --now raftd" [ $? -eq 0 ]
[ -n "$out" ] && echo "  $out"
is_leader() { [[ "$(prop "$n1" StatusText)" =~ ^Leader,\ term\ [0-9]+$ ]]; }
check "active/running with StatusText \"Leader, term N\"" wait_for 15 is_leader
echo "  $(cin "$n1" systemctl show -p ActiveState,SubState,StatusText raftd | tr '\n' ' ')"
check "ActiveState=active SubState=running" \
    [ "$(prop "$n1" ActiveState)/$(prop "$n1" SubState)" = active/running ]
term1=$(prop "$n1" StatusText | sed -n 's/^Leader, term //p')
mainpid=$(prop "$n1" MainPID)
out=$(cin "$n1" raftctl leader 2>&1)
check "raftctl leader, no flags (the members of $conf_path): \"$out\"" \
    [ "$out" = "1 http://127.0.0.1:7001" ]

pid1_log_all() { cin "$n1" journalctl -q --no-pager -o cat _PID=1; }
check "READY=1 from the main PID $mainpid is accepted (Type=notify, NotifyAccess=main)" \
    grep -qE "Got notification message from PID $mainpid \(READY=1" <(pid1_log_all)
check "STATUS= updates from the main PID" \
    grep -qE "Got notification message from PID $mainpid \(.*STATUS=Leader, term" <(pid1_log_all)
check "no notification was refused" \
    eval '! pid1_log_all | grep -qE "reception only permitted|reception refused"'

# Sandbox: a dynamic user, no capabilities, the state directory.
uid=$(cin "$n1" cat "/proc/$mainpid/status" | awk '/^Uid:/ {print $2}')
capeff=$(cin "$n1" cat "/proc/$mainpid/status" | awk '/^CapEff:/ {print $2}')
check "runs as a dynamic non-root user (uid $uid)" \
    bash -c '[ -n "$1" ] && [ "$1" -ge 61184 ] && [ "$1" -le 65519 ]' _ "$uid"
check "no effective capabilities (CapEff=$capeff)" \
    [ "$capeff" = 0000000000000000 ]
check "the first start recorded the members list in /var/lib/raftd/members" \
    eval '[ "$(cin "$n1" grep -c "^member 1 http://127.0.0.1:7001$" /var/lib/private/raftd/members)" = 1 ]'
check "/var/lib/raftd is the StateDirectory (-> private/raftd, owned by the dynamic user)" \
    eval '[ "$(cin "$n1" readlink /var/lib/raftd)" = private/raftd ] &&
          [ "$(cin "$n1" stat -c %u /var/lib/private/raftd)" = "$uid" ]'
exposure=$(cin "$n1" systemd-analyze security raftd --no-pager 2>/dev/null |
    sed -n 's/.*Overall exposure level for raftd.service: \([0-9.]*\).*/\1/p')
check "systemd-analyze security raftd: exposure $exposure, at most 1.5" \
    python3 -c 'import sys; sys.exit(not (sys.argv[1] and float(sys.argv[1]) <= 1.5))' "$exposure"
check "WatchdogUSec=15s (the unit's WatchdogSec=)" \
    [ "$(prop "$n1" WatchdogUSec)" = 15s ]
check "WATCHDOG=1 from the main PID $mainpid (sent by its event loop)" \
    wait_for 10 eval 'grep -qE "Got notification message from PID $mainpid \(WATCHDOG=1" <(pid1_log_all)'

# Journal: structured fields, through sd_journal_send (JOURNAL_STREAM).
jl=$(cin "$n1" journalctl -u raftd -o json --no-pager RAFT_EVENT=became_leader)
lead=$(jmatch RAFT_EVENT=became_leader RAFT_STATE=Leader <<<"$jl" | tail -n 1)
check "journalctl -u raftd RAFT_EVENT=became_leader has an entry with RAFT_STATE=Leader" \
    [ -n "$lead" ]
python3 -c '
import json, sys
for line in sys.stdin:
    e = json.loads(line)
    print("  " + " ".join("%s=%s" % (k, e[k]) for k in sorted(e)
                          if k.startswith("RAFT_") or k == "MESSAGE"))
' <<<"$lead"
check "  ... with RAFT_NODE_ID=1" [ "$(jget RAFT_NODE_ID <<<"$lead")" = 1 ]
check "  ... with RAFT_TERM=$term1 (the StatusText term)" \
    eval '[ -n "$term1" ] && [ "$(jget RAFT_TERM <<<"$lead")" = "$term1" ]'
check "  ... with RAFT_LEADER_ID=1" [ "$(jget RAFT_LEADER_ID <<<"$lead")" = 1 ]
check "  ... sent with sd_journal_send (_TRANSPORT=journal)" \
    [ "$(jget _TRANSPORT <<<"$lead")" = journal ]
all=$(cin "$n1" journalctl -u raftd -o json --no-pager "_PID=$mainpid")
nstd=$(jmatch _TRANSPORT=stdout <<<"$all" | wc -l)
check "nothing of raftd's went through stderr ($nstd lines): JOURNAL_STREAM detected" \
    [ "$nstd" -eq 0 ]
for ev in election_timeout prevote_started election_started; do
    e=$(jmatch RAFT_EVENT=$ev <<<"$all" | head -n 1)
    check "journal has RAFT_EVENT=$ev with RAFT_NODE_ID" \
        eval '[ -n "$e" ] && [ "$(jget RAFT_NODE_ID <<<"$e")" = 1 ]'
done
noterm=$(jmatch RAFT_EVENT=election_timeout <<<"$all" | jget RAFT_TERM)
[ -z "$noterm" ] && note "RAFT_TERM is left out of events at term 0 (e.g. the first election_timeout)"

# HTTP inside the container.
st=$(cin "$n1" curl -sf -m 5 http://127.0.0.1:7001/status)
check "/status: peer_auth is hmac (the dynamic user read the credential)" \
    python3 -c 'import json,sys; sys.exit(json.loads(sys.argv[1]).get("peer_auth") != "hmac")' "$st"
check "curl /status answers (Leader, term $term1)" \
    python3 -c 'import json,sys; s=json.loads(sys.argv[1]); sys.exit(not (s["state"] == "Leader" and s["id"] == 1 and str(s["term"]) == sys.argv[2]))' "$st" "$term1"
echo "  $st" | cut -c 1-200
put=$(cin "$n1" curl -s -m 5 -XPUT http://127.0.0.1:7001/v2/keys/x -d value=1)
check "curl -XPUT /v2/keys/x -d value=1" grep -q '"value":"1"' <<<"$put"

# Snapshots are taken by a forked child: allowed by the unit's sandbox?
cin "$n1" sh -c 'for i in $(seq 1 30); do curl -s -m 5 -o /dev/null -XPUT http://127.0.0.1:7001/v2/keys/s$i -d value=$i; done'
snap_taken() { cin "$n1" journalctl -u raftd -o json --no-pager RAFT_EVENT=snapshot_taken | grep -q snapshot_taken; }
check "a snapshot was taken under the sandbox (journal RAFT_EVENT=snapshot_taken)" \
    wait_for 10 snap_taken
if ! snap_taken; then
    note "$(cin "$n1" journalctl -u raftd --no-pager -n 20 | grep -i snapshot)"
fi

get_x_early() { cin "$n1" curl -s -m 5 'http://127.0.0.1:7001/v2/keys/x?quorum=true' | grep -q '"value":"1"'; }
# Reload: log_level and the timeouts apply in the same process, an invalid
# file changes nothing; both are journaled.
good=$(cin "$n1" cat "$conf_path")
printf '%s\nlog_level = "debug";\nelection_timeout_min_ms = 1500;\nelection_timeout_max_ms = 3000;\n' "$good" | write_conf "$n1"
out=$(cin "$n1" systemctl reload raftd 2>&1)
check "systemctl reload raftd" [ $? -eq 0 ]
[ -n "$out" ] && echo "  $out"
reloaded() { grep -q "log_level info -> debug, election_timeout_min_ms 1000 -> 1500" <(cin "$n1" journalctl -u raftd -o cat --no-pager "_PID=$mainpid" RAFT_EVENT=reloaded); }
check "  ... the journal has RAFT_EVENT=reloaded saying what changed" wait_for 10 reloaded
echo "  $(cin "$n1" journalctl -u raftd -o cat --no-pager RAFT_EVENT=reloaded | tail -n 1)"
reloading() { grep -qE "Got notification message from PID $mainpid \(RELOADING=1" <(pid1_log_all); }
check "  ... RELOADING=1 from the main PID reached systemd" wait_for 10 reloading
st=$(cin "$n1" curl -sf -m 5 http://127.0.0.1:7001/status)
check "  ... /status settings: debug, election_timeout_min_ms 1500, same process" \
    eval 'python3 -c "import json,sys; s=json.loads(sys.argv[1])[\"settings\"]; sys.exit(not (s[\"log_level\"] == \"debug\" and s[\"election_timeout_min_ms\"] == 1500))" "$st" &&
          [ "$(prop "$n1" MainPID)" = "$mainpid" ]'
printf '%s\nheartbeat_ms = "fast";\n' "$good" | write_conf "$n1"
badline=$(($(printf '%s\n' "$good" | wc -l) + 1))
cin "$n1" systemctl reload raftd >/dev/null 2>&1
refused() { grep -q "$conf_path:$badline: .*nothing changed" <(cin "$n1" journalctl -u raftd -o cat --no-pager "_PID=$mainpid" RAFT_EVENT=reload_failed); }
check "an invalid file on reload: RAFT_EVENT=reload_failed names $conf_path:$badline, nothing changed" \
    wait_for 10 refused
check "  ... still active/running, Leader, same process" \
    eval '[ "$(prop "$n1" ActiveState)/$(prop "$n1" SubState)" = active/running ] &&
          is_leader && [ "$(prop "$n1" MainPID)" = "$mainpid" ]'
printf '%s\n' "$good" | write_conf "$n1"
cin "$n1" systemctl reload raftd >/dev/null 2>&1

# Watchdog: a stopped process sends no WATCHDOG=1; systemd kills it after
# WatchdogSec (15 s) and restarts it (RestartSec=2s); it serves again.
info "single node: SIGSTOP, waiting for the watchdog"
cin "$n1" sh -c 'kill -STOP "$1"' sh "$mainpid"   # (no /bin/kill there)
restarted() { local p; p=$(prop "$n1" MainPID); [ -n "$p" ] && [ "$p" != 0 ] && [ "$p" != "$mainpid" ] && is_leader; }
t_stop=$SECONDS
check "SIGSTOP $mainpid: systemd restarts raftd (watchdog)" wait_for 40 restarted
echo "  restarted after $((SECONDS - t_stop)) s; $(cin "$n1" systemctl show -p NRestarts,MainPID raftd | tr '\n' ' ')"
check "  ... the journal says \"Watchdog timeout\"" \
    grep -q "Watchdog timeout" <(cin "$n1" journalctl -u raftd -q --no-pager -o cat)
check "  ... and the restarted node serves x=1" wait_for 15 get_x_early
mainpid=$(prop "$n1" MainPID)
term1=$(prop "$n1" StatusText | sed -n 's/^Leader, term //p')

# Restart: the state directory survives, under the dynamic user.
out=$(cin "$n1" systemctl restart raftd 2>&1)
check "systemctl restart raftd" [ $? -eq 0 ]
mainpid2=$(prop "$n1" MainPID)
early=$(cin "$n1" curl -s -m 5 http://127.0.0.1:7001/v2/keys/x)
get_x() { cin "$n1" curl -s -m 5 'http://127.0.0.1:7001/v2/keys/x?quorum=true' | grep -q '"value":"1"'; }
check "x=1 survives systemctl restart (GET ?quorum=true)" wait_for 15 get_x
if ! grep -q '"value":"1"' <<<"$early"; then
    note "a plain GET right after the restart (READY=1, before the election) answered: $early"
fi
rec=$(cin "$n1" journalctl -u raftd -o json --no-pager "_PID=$mainpid2" RAFT_EVENT=recovered | jget MESSAGE)
check "the restarted daemon recovered its term from /var/lib/raftd ($rec)" \
    grep -q "term $term1" <<<"$rec"
check "leader again after the restart" wait_for 15 is_leader
term2=$(prop "$n1" StatusText | sed -n 's/^Leader, term //p')
check "term went up across the restart ($term1 -> $term2)" \
    eval '[ -n "$term2" ] && [ "$term2" -gt "$term1" ]'

# Stop: STOPPING=1, a clean exit.
mainpid=$(prop "$n1" MainPID)
out=$(cin "$n1" systemctl stop raftd 2>&1)
check "systemctl stop raftd" [ $? -eq 0 ]
check "STOPPING=1 from the main PID reached systemd" \
    grep -qE "Got notification message from PID $mainpid \(STOPPING=1" <(pid1_log_all)
stoplog=$(cin "$n1" journalctl -u raftd -o cat --no-pager "_PID=$mainpid")
check "the daemon logged that it is stopping" grep -q 'stopping' <<<"$stoplog"
check "the daemon logged \"stopped\"" grep -qx 'stopped' <<<"$stoplog"
echo "  $(cin "$n1" systemctl show -p ActiveState,Result,ExecMainCode,ExecMainStatus raftd | tr '\n' ' ')"
check "ExecMainStatus=0, Result=success, inactive" \
    [ "$(prop "$n1" ExecMainStatus)/$(prop "$n1" Result)/$(prop "$n1" ActiveState)" = 0/success/inactive ]
cin "$n1" systemd-analyze log-level info

# A broken config.
good=$(cin "$n1" cat "$conf_path")
write_conf "$n1" <<'EOF'
members = ( { id = 1; url = "http://127.0.0.1:7001"; } );
heartbeat_ms = "fast";
EOF
out=$(cin "$n1" "$raftd_bin" --check-config --config "$conf_path" 2>&1)
rc=$?
echo "  $out"
check "raftd --check-config on a wrong type exits 78 (got $rc)" [ $rc -eq 78 ]
check "  ... naming $conf_path:2" grep -q "$conf_path:2" <<<"$out"
write_conf "$n1" <<'EOF'
members = ( { id = 1; url = "http://127.0.0.1:7001"; } );
heartbeat_ms = ;
election_timeout_min_ms = 300;
EOF
# Without --config raftd reads /etc/raftd.conf; the unit names the
# installed one, $(sysconfdir)/raftd.conf.
if [ "$conf_path" = /etc/raftd.conf ]; then
    out=$(cin "$n1" "$raftd_bin" --check-config 2>&1)
else
    note "sysconfdir is not /etc: raftd --check-config without --config would read /etc/raftd.conf, not $conf_path"
    out=$(cin "$n1" "$raftd_bin" --check-config --config "$conf_path" 2>&1)
fi
rc=$?
echo "  $out"
check "raftd --check-config on a syntax error exits 78 (got $rc)" [ $rc -eq 78 ]
check "  ... naming $conf_path:2" grep -q "$conf_path:2" <<<"$out"
cin "$n1" systemctl start raftd >/dev/null 2>&1
check "systemctl start with the broken config fails with ExecMainStatus=78" \
    [ "$(prop "$n1" ExecMainStatus)" = 78 ]
badpid=$(prop "$n1" ExecMainPID)
st=$(prop "$n1" StatusText)
echo "  StatusText=$st"
check "  ... StatusText \"bad configuration: $conf_path:2: ...\" (systemctl status)" \
    grep -q "^bad configuration: $conf_path:2: " <<<"$st"
sleep 3.5   # RestartSec=2s
nr=$(prop "$n1" NRestarts)
echo "  $(cin "$n1" systemctl show -p ActiveState,SubState,Result,NRestarts raftd | tr '\n' ' ')"
check "a config error (78) is not restarted every RestartSec (NRestarts=$nr; RestartPreventExitStatus=78)" \
    [ "$nr" = 0 ]
errs=$(cin "$n1" journalctl -u raftd -o cat --no-pager "_PID=$badpid" | grep -c "$conf_path:")
check "the config error is in the journal once per start (got $errs)" [ "$errs" -eq 1 ]
cin "$n1" systemctl stop raftd >/dev/null 2>&1
cin "$n1" systemctl reset-failed raftd >/dev/null 2>&1

# Debian's installer maps the machine's own name to 127.0.1.1 in /etc/hosts:
# a member URL by that name is refused when the others are elsewhere.
cin "$n1" sh -c '[ -e /etc/hosts ] && cp /etc/hosts /etc/hosts.orig; echo "127.0.1.1 labnode1" >>/etc/hosts'
write_conf "$n1" <<'EOF'
id = 1;
members = ( { id = 1; url = "http://labnode1:7001"; },
            { id = 2; url = "http://192.0.2.2:7001"; } );
EOF
out=$(cin "$n1" "$raftd_bin" --check-config --config "$conf_path" 2>&1)
rc=$?
echo "  $out" | cut -c 1-240
check "own name on 127.0.1.1 in /etc/hosts, another member elsewhere: --check-config exits 78 (got $rc)" \
    [ $rc -eq 78 ]
check "  ... naming $conf_path:2, 127.0.1.1 and what to do" \
    eval 'grep -q "^$conf_path:2: .*127.0.1.1.*/etc/hosts" <<<"$out"'
cin "$n1" sh -c 'if [ -e /etc/hosts.orig ]; then mv /etc/hosts.orig /etc/hosts; else rm -f /etc/hosts; fi'

# A members list that differs from the one /var/lib/raftd was bootstrapped
# with ({1}): the node starts with the cluster's configuration, reports how
# the file differs, and changes nothing until a reload (issue 11). (No
# reload here: the added member's address is not to be contacted.)
write_conf "$n1" <<'EOF'
members = ( { id = 1; url = "http://127.0.0.1:7001"; },
            { id = 2; url = "http://192.0.2.2:7001"; } );
id = 1;
EOF
out=$(cin "$n1" "$raftd_bin" --check-config --config "$conf_path" 2>&1)
rc=$?
echo "  $out" | cut -c 1-300
check "raftd --check-config on an added member: exit 0, names the difference (got $rc)" \
    eval '[ $rc -eq 0 ] && grep -q "node 2 (http://192.0.2.2:7001) is to be added" <<<"$out"'
cin "$n1" systemctl start raftd >/dev/null 2>&1
check "systemctl start with a changed members list: active, Leader of its one-node configuration" \
    wait_for 15 is_leader
differs() { cin "$n1" journalctl -u raftd -o cat --no-pager RAFT_EVENT=members_file_differs | grep -q "node 2 (http://192.0.2.2:7001) is to be added.*systemctl reload raftd"; }
check "  ... the journal has RAFT_EVENT=members_file_differs saying what differs and how to apply it" \
    wait_for 10 differs
st=$(cin "$n1" curl -s -m 5 http://127.0.0.1:7001/status)
check "  ... /status: members_file_differs set, the configuration still {1}" \
    eval 'grep -q "\"members_file_differs\":\"node 2" <<<"$st" && ! grep -q "\"id\":2," <<<"$st"'
check "the members record in /var/lib/raftd is unchanged (member 1 only)" \
    eval '[ "$(cin "$n1" grep -c "^member " /var/lib/private/raftd/members)" = 1 ]'
cin "$n1" systemctl stop raftd >/dev/null 2>&1
cin "$n1" systemctl reset-failed raftd >/dev/null 2>&1

# A data_dir outside the StateDirectory: ProtectSystem=strict makes it
# read-only, and the failure must say so (systemctl status shows StatusText).
write_conf "$n1" <<'EOF'
members = ( { id = 1; url = "http://127.0.0.1:7001"; } );
data_dir = "/srv/raftd";
EOF
cin "$n1" systemctl start raftd >/dev/null 2>&1
badpid=$(prop "$n1" ExecMainPID)
st=$(prop "$n1" StatusText)
echo "  ExecMainStatus=$(prop "$n1" ExecMainStatus) StatusText=$st"
check "data_dir outside the StateDirectory: the service fails" \
    [ "$(prop "$n1" ExecMainStatus)" != 0 ]
check "  ... with StatusText \"cannot start: ...\" naming /srv/raftd" \
    eval '[[ $st == "cannot start: "*/srv/raftd* ]]'
errs=$(cin "$n1" journalctl -u raftd -o cat --no-pager "_PID=$badpid" | grep -c "/srv/raftd")
[ "$errs" -gt 1 ] && note "the start failure is in the journal $errs times (stderr and sd_journal_send)"
cin "$n1" systemctl stop raftd >/dev/null 2>&1
cin "$n1" systemctl reset-failed raftd >/dev/null 2>&1
printf '%s\n' "$good" | write_conf "$n1"

# TLS: the same node switched to https (its data kept), the key in
# /etc/raftd/ as a credential, the certificate and the CA in /etc/ssl/raftd/
# where the dynamic user reads them; systemctl reload rereads them.
if command -v openssl >/dev/null; then
    info "single node: TLS"
    tls=$work/tls
    mkdir -p "$tls"
    ossl() { openssl "$@" >>"$tls/openssl.log" 2>&1; }
    issue() { # name: a certificate for 127.0.0.1 with tls/node.key
        ossl req -new -key "$tls/node.key" -subj /CN=node1 -out "$tls/$1.csr" &&
            printf 'subjectAltName = IP:127.0.0.1\nextendedKeyUsage = serverAuth, clientAuth\n' >"$tls/ext" &&
            ossl x509 -req -in "$tls/$1.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
                -CAcreateserial -days 30 -extfile "$tls/ext" -out "$tls/$1.pem"
    }
    put_file() { # mode path < content
        cin "$n1" sh -c 'umask 077; cat >"$2" && chmod "$1" "$2"' sh "$1" "$2"
    }
    if ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tls/ca.key" &&
        ossl req -x509 -new -key "$tls/ca.key" -subj "/CN=raftd systemd test CA" \
            -days 30 -out "$tls/ca.pem" &&
        ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tls/node.key" &&
        issue node && issue renewed; then
        cin "$n1" install -d -m 755 /etc/ssl/raftd
        put_file 644 /etc/ssl/raftd/ca.pem <"$tls/ca.pem"
        put_file 644 /etc/ssl/raftd/node.pem <"$tls/node.pem"
        put_file 600 "$secret_dir/tls-key.pem" <"$tls/node.key"
        printf '%s\n' 'members = ( { id = 1; url = "https://127.0.0.1:7001"; } );' \
            'tls_cert_file = "/etc/ssl/raftd/node.pem";' \
            "tls_key_file = \"${secret_dir%/}/tls-key.pem\";" \
            'tls_ca_file = "/etc/ssl/raftd/ca.pem";' \
            'peer_client_cert_auth = true;' | write_conf "$n1"
        out=$(cin "$n1" "$raftd_bin" --check-config --config "$conf_path" 2>&1)
        echo "  $out" | cut -c 1-300
        check "raftd --check-config accepts the TLS config (its data directory was bootstrapped with http://)" \
            grep -q 'serves HTTPS with the certificate "CN=node1"' <<<"$out"
        cin "$n1" systemctl start raftd >/dev/null 2>&1
        check "TLS: active, Leader" wait_for 15 is_leader
        tpid=$(prop "$n1" MainPID)
        tterm=$(prop "$n1" StatusText | sed -n 's/^Leader, term //p')
        get_x_tls() { cin "$n1" curl -s -m 5 --cacert /etc/ssl/raftd/ca.pem 'https://127.0.0.1:7001/v2/keys/x?quorum=true' | grep -q '"value":"1"'; }
        check "TLS: curl --cacert https://127.0.0.1:7001 reads x=1 (kept from before the switch)" \
            wait_for 10 get_x_tls
        plain=$(cin "$n1" curl -s -m 5 http://127.0.0.1:7001/status)
        check "TLS: plain http gets \"serves HTTPS only\"" grep -q "serves HTTPS only" <<<"$plain"
        put_file 644 /etc/ssl/raftd/node.pem <"$tls/renewed.pem"
        serial=$(openssl x509 -in "$tls/renewed.pem" -noout -serial | sed 's/^serial=//' | tr 'A-F' 'a-f')
        out=$(cin "$n1" systemctl reload raftd 2>&1)
        check "systemctl reload raftd (ExecReload)" [ $? -eq 0 ]
        [ -n "$out" ] && echo "  $out"
        reloaded() { cin "$n1" journalctl -u raftd -o cat --no-pager RAFT_EVENT=tls_reloaded | grep -q "serial $serial"; }
        check "  ... the journal has RAFT_EVENT=tls_reloaded with the renewed certificate (serial $serial)" \
            wait_for 10 reloaded
        msg=$(cin "$n1" journalctl -u raftd -o cat --no-pager RAFT_EVENT=tls_reloaded | tail -n 1)
        echo "  $msg" | cut -c 1-300
        check "  ... whose key came from the credential raftd_tls-key.pem" \
            grep -q "raftd_tls-key.pem (a systemd credential" <<<"$msg"
        served() { cin "$n1" curl -s -m 5 -o /dev/null -w '%{certs}' --cacert /etc/ssl/raftd/ca.pem https://127.0.0.1:7001/status | tr -d ':' | tr 'A-F' 'a-f' | grep -q "$serial"; }
        check "  ... and new connections get it" wait_for 10 served
        check "  ... same process, still Leader in term $tterm" \
            [ "$(prop "$n1" MainPID)/$(prop "$n1" StatusText)" = "$tpid/Leader, term $tterm" ]
        echo "not a certificate" | put_file 644 /etc/ssl/raftd/node.pem
        cin "$n1" systemctl reload raftd >/dev/null 2>&1
        failed_reload() { cin "$n1" journalctl -u raftd -o cat --no-pager RAFT_EVENT=tls_reload_failed | grep -q "tls_cert_file /etc/ssl/raftd/node.pem: holds no readable PEM certificate"; }
        check "a broken certificate on reload: the old one stays, the journal names the file (tls_reload_failed)" \
            wait_for 10 failed_reload
        check "  ... and it still serves" wait_for 10 get_x_tls
        cin "$n1" systemctl stop raftd >/dev/null 2>&1
        cin "$n1" systemctl reset-failed raftd >/dev/null 2>&1
        printf '%s\n' "$good" | write_conf "$n1"
    else
        tail -n 5 "$tls/openssl.log"
        fail "making a test CA with openssl"
    fi
else
    note "openssl not found on the host: the TLS part is skipped"
fi

# Upgrading the package restarts a running raftd and keeps the edited
# config. Removing it: the service stops, the programs and the unit go,
# the configuration stays (a reinstall keeps it); purge removes it and the
# data, and leaves the keys in /etc/raftd/ (debian/raftd.postrm).
info "single node: upgrade, dpkg -r raftd, reinstall, dpkg -P raftd"
cin "$n1" systemctl start raftd >/dev/null 2>&1
check "raftd runs again before the upgrade" wait_for 15 is_leader
uppid=$(prop "$n1" MainPID)
upver=$(dpkg-deb -f "$layer/root/raftd-up.deb" Version)
check "an upgrade (apt-get install of version $upver) with an edited $conf_path: no question" \
    eval 'install_deb "$n1" raftd-up.deb &&
          [ "$(cin "$n1" dpkg-query -W -f="\${Version}" raftd)" = "$upver" ]'
upped() { local p; p=$(prop "$n1" MainPID); [ -n "$p" ] && [ "$p" != 0 ] && [ "$p" != "$uppid" ] && is_leader; }
check "  ... restarted the running raftd (MainPID $uppid -> $(prop "$n1" MainPID)), Leader again" \
    wait_for 15 upped
check "  ... kept the edited $conf_path, and the unit enabled (systemctl enable above)" \
    eval '[ "$(cin "$n1" cat "$conf_path")" = "$good" ] &&
          [ "$(cin "$n1" systemctl is-enabled raftd 2>&1)" = enabled ]'
out=$(cin "$n1" dpkg -r raftd 2>&1)
check "dpkg -r raftd" [ $? -eq 0 ]
echo "$out" | tail -n 3 | sed 's/^/  | /'
check "  ... stopped the service (ActiveState=$(prop "$n1" ActiveState), LoadState=$(prop "$n1" LoadState))" \
    eval '[ "$(prop "$n1" ActiveState)" = inactive ] &&
          [ "$(prop "$n1" LoadState)" = not-found ]'
check "  ... removed raftd, raftctl, the unit and the man pages" \
    none_exist "$n1" /usr/sbin/raftd /usr/bin/raftctl /lib/systemd/system/raftd.service /usr/share/man/man8/raftd.8.gz
check "  ... left $conf_path as it was (dpkg: config-files)" \
    eval '[ "$(cin "$n1" cat "$conf_path")" = "$good" ] &&
          [ "$(cin "$n1" dpkg-query -W -f="\${Status}" raftd)" = "deinstall ok config-files" ]'
check "  ... and the data in /var/lib/raftd" cin "$n1" test -s /var/lib/private/raftd/members
check "apt-get install ./${deb##*/} again keeps the edited $conf_path" \
    eval 'install_deb "$n1" && [ "$(cin "$n1" cat "$conf_path")" = "$good" ]'
out=$(cin "$n1" dpkg -P raftd 2>&1)
check "dpkg -P raftd" [ $? -eq 0 ]
echo "$out" | tail -n 3 | sed 's/^/  | /'
check "  ... removed $conf_path, /var/lib/raftd and its data (dpkg: not installed)" \
    eval 'none_exist "$n1" "$conf_path" /var/lib/raftd /var/lib/private/raftd &&
          [ -z "$(cin "$n1" dpkg-query -W -f="\${Status}" raftd 2>/dev/null)" ]'
check "  ... kept $secret_path" cin "$n1" test -s "$secret_path"

info "single node: powering off"
stop_container "$n1"
remove_tree "$work/$n1"

# ==== three nodes on a private bridge ===========================================
if [ "$CLUSTER" = 1 ]; then
    info "three nodes: network"
    net=10.213.0.0/24
    # Nothing of this subnet may leave the host: no address on the host side
    # of the bridge, and a blackhole route in case anything looks it up.
    if [ -z "$(ip route show "$net" 2>/dev/null)" ] &&
        ip route add blackhole "$net" 2>/dev/null; then
        route_added=$net
    fi
    bridge=rsdbr$tag
    bridge=${bridge:0:15}
    ip link add "$bridge" type bridge 2>/dev/null || bridge=
    if [ -z "$bridge" ]; then
        note "cannot create a bridge here: three-node part skipped"
    else
        sysctl -qw "net.ipv6.conf.$bridge.disable_ipv6=1" 2>/dev/null
        ip link set "$bridge" up
        names=()
        for i in 1 2 3; do
            names+=("rsd${tag}n$i")
        done
        cluster_secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
        conf='# tests/systemd: three nodes, no "id": each finds itself by address
members = (
    { id = 1; url = "http://10.213.0.11:7001"; },
    { id = 2; url = "http://10.213.0.12:7001"; },
    { id = 3; url = "http://10.213.0.13:7001"; }
);'
        bad=
        for i in 1 2 3; do
            nm=${names[$((i - 1))]}
            new_root "$nm" || { bad=1; break; }
            boot "$nm" --network-bridge="$bridge" || { bad=1; break; }
            install_deb "$nm" || { bad=1; break; }
            printf '%s\n' "$conf" | write_conf "$nm"
            # the same peer secret on every member, as a lab copies it
            printf '%s\n' "$cluster_secret" | put_secret "$nm" || { bad=1; break; }
            if ! cin "$nm" ip link set host0 up ||
                ! cin "$nm" ip addr add "10.213.0.1$i/24" dev host0; then
                bad=1
                break
            fi
        done
        if [ -n "$bad" ]; then
            fail "three containers on a bridge did not come up"
        else
            info "three nodes: booted"
            for nm in "${names[@]}"; do
                cin "$nm" systemctl enable --now --no-block raftd >/dev/null 2>&1
            done
            status_of() { prop "$1" StatusText; }
            # Leader L in term T and two "Follower of node L, term T".
            agreed() {
                local s l='' t='' nl=0 nf=0 nm
                for nm in "${names[@]}"; do
                    s=$(status_of "$nm")
                    if [[ $s =~ ^Leader,\ term\ ([0-9]+)$ ]]; then
                        nl=$((nl + 1)); l=${nm##*n}; t=${BASH_REMATCH[1]}
                    fi
                done
                [ $nl -eq 1 ] || return 1
                for nm in "${names[@]}"; do
                    [ "${nm##*n}" = "$l" ] && continue
                    s=$(status_of "$nm")
                    [ "$s" = "Follower of node $l, term $t" ] || return 1
                    nf=$((nf + 1))
                done
                LEADER=$l TERM=$t
                [ $nf -eq 2 ]
            }
            LEADER='' TERM=''
            check "three nodes: one Leader and two \"Follower of node L, term T\"" \
                wait_for 20 agreed
            for nm in "${names[@]}"; do
                echo "  $nm: $(cin "$nm" systemctl show -p ActiveState,SubState,StatusText raftd | tr '\n' ' ')"
            done
            for i in 1 2 3; do
                nm=${names[$((i - 1))]}
                check "node $i found itself by its address in the sandbox (listening on 10.213.0.1$i:7001)" \
                    grep -q "node $i listening on 10.213.0.1$i:7001" \
                    <(cin "$nm" journalctl -u raftd -o cat --no-pager)
            done
            if [ -n "$LEADER" ]; then
                L=$LEADER T1=$TERM
                Lnm=${names[$((L - 1))]}
                e=$(cin "$Lnm" journalctl -u raftd -o json --no-pager RAFT_EVENT=became_leader | tail -n 1)
                check "leader $L: became_leader in the journal with RAFT_TERM=$T1" \
                    [ "$(jget RAFT_TERM <<<"$e")" = "$T1" ]
                f=$(( L % 3 + 1 ))
                Fnm=${names[$((f - 1))]}
                e=$(cin "$Fnm" journalctl -u raftd -o json --no-pager "RAFT_LEADER_ID=$L" | tail -n 1)
                check "follower $f: an event with RAFT_LEADER_ID=$L ($(jget RAFT_EVENT <<<"$e"))" \
                    eval '[ -n "$e" ] && [ "$(jget RAFT_NODE_ID <<<"$e")" = "$f" ]'
                put=$(cin "$Fnm" curl -s -m 5 -XPUT http://10.213.0.1$f:7001/v2/keys/y -d value=2)
                check "PUT y=2 through follower $f" grep -q '"value":"2"' <<<"$put"
                for i in 1 2 3; do
                    get_y() { cin "${names[$((i - 1))]}" curl -s -m 5 "http://10.213.0.1$i:7001/v2/keys/y?quorum=true" | grep -q '"value":"2"'; }
                    check "node $i reads y=2" wait_for 10 get_y
                done
                # Stop the leader: the other two elect a new one.
                cin "$Lnm" systemctl stop raftd
                check "old leader $L stopped cleanly (ExecMainStatus=0, Result=success)" \
                    [ "$(prop "$Lnm" ExecMainStatus)/$(prop "$Lnm" Result)" = 0/success ]
                new_leader() {
                    local nm s
                    for nm in "${names[@]}"; do
                        [ "$nm" = "$Lnm" ] && continue
                        s=$(status_of "$nm")
                        if [[ $s =~ ^Leader,\ term\ ([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" -gt "$T1" ]; then
                            L2=${nm##*n} T2=${BASH_REMATCH[1]}
                            return 0
                        fi
                    done
                    return 1
                }
                L2='' T2=''
                check "after stopping leader $L another node leads with a higher term" \
                    wait_for 15 new_leader
                echo "  new leader: node ${L2:-?}, term ${T2:-?}"
                cin "$Lnm" systemctl start raftd
                rejoined() {
                    [ "$(status_of "$Lnm")" = "Follower of node $L2, term $T2" ]
                }
                check "old leader $L rejoins as \"Follower of node $L2, term $T2\"" \
                    wait_for 15 rejoined
                sleep 2
                check "  ... and node $L2 still leads in term $T2 (no disruption)" \
                    [ "$(status_of "${names[$((L2 - 1))]}")" = "Leader, term $T2" ]

                # The watchdog on a follower: SIGSTOP, systemd kills and
                # restarts it after WatchdogSec, it rejoins and serves.
                info "three nodes: SIGSTOP follower $L, waiting for the watchdog"
                wpid=$(prop "$Lnm" MainPID)
                cin "$Lnm" sh -c 'kill -STOP "$1"' sh "$wpid"
                back() {
                    local p
                    p=$(prop "$Lnm" MainPID)
                    [ -n "$p" ] && [ "$p" != 0 ] && [ "$p" != "$wpid" ] && rejoined
                }
                t_stop=$SECONDS
                check "follower $L stopped (SIGSTOP): the watchdog restarts it, it rejoins as \"Follower of node $L2, term $T2\"" \
                    wait_for 45 back
                echo "  back after $((SECONDS - t_stop)) s: $(status_of "$Lnm")"
                check "  ... \"Watchdog timeout\" in its journal" \
                    grep -q "Watchdog timeout" <(cin "$Lnm" journalctl -u raftd -q --no-pager -o cat)
                get_y_L() { cin "$Lnm" curl -s -m 5 "http://10.213.0.1$L:7001/v2/keys/y?quorum=true" | grep -q '"value":"2"'; }
                check "  ... and serves y=2 (a quorum read)" wait_for 10 get_y_L

                # Replace a lab machine (issue 11): node R "breaks", a new
                # machine, node 4, takes its place; the new list goes on
                # every machine, one reload, node 4 starts.
                R=$(( L2 % 3 + 1 ))
                Rnm=${names[$((R - 1))]}
                info "three nodes: replacing node $R by node 4 (reload)"
                cin "$Rnm" systemctl stop raftd
                newconf="# tests/systemd: node $R replaced by node 4
members = ("
                sep=
                for i in 1 2 3 4; do
                    [ "$i" = "$R" ] && continue
                    newconf+="$sep
    { id = $i; url = \"http://10.213.0.1$i:7001\"; }"
                    sep=,
                done
                newconf+="
);"
                echo "$newconf" | sed 's/^/  /'
                n4="rsd${tag}n4"
                if new_root "$n4" && boot "$n4" --network-bridge="$bridge" &&
                    install_deb "$n4" &&
                    printf '%s\n' "$newconf" | write_conf "$n4" &&
                    printf '%s\n' "$cluster_secret" | put_secret "$n4" &&
                    cin "$n4" ip link set host0 up &&
                    cin "$n4" ip addr add 10.213.0.14/24 dev host0; then
                    names+=("$n4")
                    for i in 1 2 3; do
                        [ "$i" = "$R" ] && continue
                        printf '%s\n' "$newconf" | write_conf "${names[$((i - 1))]}"
                    done
                    out=$(cin "${names[$((L2 - 1))]}" "$raftd_bin" --check-config --config "$conf_path" 2>&1)
                    check "raftd --check-config on node $L2 names what the reload will do" \
                        grep -q "node 4 (http://10.213.0.14:7001) is to be added" <<<"$out"
                    O=$(( 6 - L2 - R )) # the other old member: a follower
                    cin "${names[$((O - 1))]}" systemctl reload raftd
                    check "systemctl reload raftd on node $O" [ $? -eq 0 ]
                    cin "$n4" systemctl enable --now --no-block raftd >/dev/null 2>&1
                    Lj=${names[$((L2 - 1))]}
                    has_event() { # event peer: in the leader's journal
                        cin "$Lj" journalctl -u raftd -o cat --no-pager \
                            "RAFT_EVENT=$1" "RAFT_PEER_ID=$2" | grep -q .
                    }
                    check "leader $L2: RAFT_EVENT=member_added RAFT_PEER_ID=4" wait_for 20 has_event member_added 4
                    check "leader $L2: RAFT_EVENT=member_promoted RAFT_PEER_ID=4" wait_for 20 has_event member_promoted 4
                    check "leader $L2: RAFT_EVENT=member_removed RAFT_PEER_ID=$R" wait_for 20 has_event member_removed "$R"
                    follows() {
                        [[ "$(status_of "$n4")" =~ ^(Follower\ of\ node\ [0-9]+,\ term\ [0-9]+|Leader,\ term\ [0-9]+)$ ]]
                    }
                    check "node 4 runs: \"$(status_of "$n4")\"" wait_for 20 follows
                    get_y4() { cin "$n4" curl -s -m 5 "http://10.213.0.14:7001/v2/keys/y?quorum=true" | grep -q '"value":"2"'; }
                    check "node 4 reads y=2 (written before it joined)" wait_for 10 get_y4
                    st=$(cin "$Lj" curl -s -m 5 "http://10.213.0.1$L2:7001/status")
                    check "leader $L2's /status lists members 4 and not $R" \
                        eval 'grep -q "\"id\":4," <<<"$st" && ! grep -q "\"id\":$R," <<<"$st"'
                else
                    fail "a fourth container did not come up"
                fi
            fi
        fi
        info "three nodes: powering off"
        for nm in "${names[@]}"; do
            poweroff_container "$nm"
        done
        for nm in "${names[@]}"; do
            stop_container "$nm"
            remove_tree "$work/$nm"
        done
    fi
fi

info "done"
finish
[ $failed -eq 0 ]
