#!/usr/bin/env bash
# run-in-vm.sh - run a command as root inside a throwaway QEMU VM whose kernel
# has device-mapper. The host's root filesystem is the guest's root (read-only
# 9p lower layer + throwaway tmpfs overlay); the repository (and any DMVM_RW
# directories) is mounted read-write at the same path.
#
# Usage:
#   vm/run-in-vm.sh 'shell command string'   # args are joined with spaces and run by bash (like ssh)
#   vm/run-in-vm.sh dmsetup version
#   vm/run-in-vm.sh - <<'EOF'                # script read from stdin
#   dmsetup create z --table '0 2048 zero'
#   EOF
#   vm/run-in-vm.sh --setup                  # only install host packages + prepare kernel/initramfs
#   vm/run-in-vm.sh --print-kernel           # print the resolved kernel package name
#   vm/run-in-vm.sh --help
#   npm run vm -- 'node -e "..."'
#
# The command runs as root in the guest, in the caller's current directory,
# with the caller's exported environment (DMVM_PASS_ENV=0 for a minimal one)
# plus DMVM_GUEST=1, DM_DISABLE_UDEV=1 and DMVM_KERNEL_PKG. Its stdout and
# stderr stream to the caller's stdout and stderr (two virtio-serial ports);
# its stdin is /dev/null. Exit status: the command's; 124 = DMVM_TIMEOUT hit;
# 125 = the VM could not be prepared or started, or reported no status (the
# guest console tail is printed to stderr).
#
# Inside the guest /dev/mapper/control exists (dm_mod and loop are loaded) and
# module autoloading works (dm-zero, dm-thin-pool, ... load on demand through
# the host's kmod). There is no network and no udev. Writes outside the
# read-write shares go to tmpfs and are lost at power-off.
#
# What it needs on the host (installed with apt-get when missing and running as
# root; DMVM_NO_APT=1 forbids): qemu-system-x86, busybox-static, kmod, cpio,
# xz-utils, dmsetup, mount. The guest kernel is a Debian kernel package fetched
# with `apt-get download` and unpacked into the cache -- never installed.
#
# Environment knobs:
#   DMVM_KERNEL    5.10 | 6.1 | 6.12 | newest | <package name>  (default 6.1)
#                  6.1  = the package linux-image-amd64 depends on (Debian 12's kernel)
#                  6.12 = the newest linux-image-6.12.*+deb12-amd64 apt knows about
#                  5.10 = the newest linux-image-5.10.0-*-amd64 of Debian 11 (bullseye)
#                  newest = the highest linux-image-*-amd64 of trixie, trixie-backports
#                         and sid; 5.10 and newest come from other Debian suites through
#                         a private apt state in the cache (the host's sources stay untouched)
#   DMVM_CACHE     kernel/initramfs cache  (default ${XDG_CACHE_HOME:-~/.cache}/devicemapper-vm)
#   DMVM_RW        space-separated host dirs shared read-write  (default: the repository root)
#   DMVM_MEM       guest RAM in MiB                             (default 2048)
#   DMVM_CPUS      guest vCPUs                                  (default: host cores, max 4)
#   DMVM_ACCEL     auto | tcg | kvm                             (default auto, see below)
#   DMVM_CPU       QEMU -cpu model                              (default: host for kvm, max for tcg)
#   DMVM_TIMEOUT   seconds before the VM is killed              (default 1200)
#   DMVM_VERBOSE   1 = guest kernel console to stderr           (default 0: to a log file)
#   DMVM_PASS_ENV  1 = pass the caller's exported environment   (default 1)
#   DMVM_KERNEL_ARGS  extra kernel command line arguments
#   DMVM_KEEP      1 = keep the per-run dir in /tmp             (default 0)
#   DMVM_NO_APT    1 = never run apt-get (fail if something is missing)
#   DMVM_TIMING    1 = print the VM's wall time to stderr
#
# Acceleration: "auto" uses KVM only when /dev/kvm opens read-write AND a
# hardware KVM module (kvm_intel or kvm_amd) is loaded; otherwise TCG. Other
# /dev/kvm providers (e.g. kvm_pvm on some cloud sandboxes) cannot run a stock
# Debian kernel usefully. An auto-chosen KVM VM that dies within 10 s without
# reporting a status is retried once with TCG.
set -euo pipefail

SELF=$(readlink -f "${BASH_SOURCE[0]}")
REPO=$(dirname "$(dirname "$SELF")")
DMVM_CACHE=${DMVM_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/devicemapper-vm}
DMVM_KERNEL=${DMVM_KERNEL:-6.1}
DMVM_RW=${DMVM_RW-$REPO}
DMVM_MEM=${DMVM_MEM:-2048}
if [ -z "${DMVM_CPUS:-}" ]; then DMVM_CPUS=$(nproc); [ "$DMVM_CPUS" -gt 4 ] && DMVM_CPUS=4; fi
DMVM_ACCEL=${DMVM_ACCEL:-auto}
DMVM_TIMEOUT=${DMVM_TIMEOUT:-1200}
DMVM_VERBOSE=${DMVM_VERBOSE:-0}
DMVM_PASS_ENV=${DMVM_PASS_ENV:-1}
DMVM_KEEP=${DMVM_KEEP:-0}
DMVM_NO_APT=${DMVM_NO_APT:-0}
MSIZE=512000   # 9p message size; the 6.1 virtio transport caps at 512000

log() { echo "run-in-vm: $*" >&2; }
die() { log "error: $*"; exit 125; }

usage() { sed -n '2,/^set -euo/p' "$SELF" | sed '$d; s/^# \{0,1\}//'; }

# ---------------------------------------------------------------- setup ----
APT_UPDATED=0
apt_update() {  # once per run, and only when allowed
  [ "$APT_UPDATED" = 0 ] && [ "$DMVM_NO_APT" != 1 ] && [ "$(id -u)" = 0 ] || return 1
  log "apt-get update"; APT_UPDATED=1
  apt-get update -qq >&2
}

apt_install() {
  [ "$DMVM_NO_APT" = 1 ] && die "missing packages: $* (DMVM_NO_APT=1)"
  [ "$(id -u)" = 0 ] || die "missing packages: $* (need root to apt-get install them)"
  [ "$APT_UPDATED" = 1 ] || apt_update || die "apt-get update failed"
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2 \
    || die "apt-get install $* failed"
}

ensure_host_tools() {
  local need=()
  command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
  # the initramfs needs the static busybox (package busybox-static, not busybox)
  [ "$(dpkg-query -W -f='${Status}' busybox-static 2>/dev/null)" = "install ok installed" ] || need+=(busybox-static)
  command -v depmod >/dev/null && [ -x /sbin/modprobe ] || need+=(kmod)
  command -v cpio >/dev/null || need+=(cpio)
  command -v xz >/dev/null || need+=(xz-utils)   # to unpack vmlinux from the XZ bzImage
  command -v dmsetup >/dev/null || need+=(dmsetup)
  command -v losetup >/dev/null || need+=(mount)
  # the udev flavour runs the host's systemd-udevd (Debian package udev) in the guest
  if [ "${DMVM_UDEV:-0}" = 1 ]; then [ -x /lib/systemd/systemd-udevd ] || need+=(udev); fi
  # the real-tools suite (spec/live/realtools.live.spec.ts) drives LVM2, cryptsetup,
  # veritysetup, integritysetup and the thin-pool tools from the host root
  if [ "${DMVM_REALTOOLS:-0}" = 1 ]; then
    command -v lvm >/dev/null || need+=(lvm2)
    command -v cryptsetup >/dev/null && command -v veritysetup >/dev/null && command -v integritysetup >/dev/null || need+=(cryptsetup-bin)
    command -v thin_check >/dev/null || need+=(thin-provisioning-tools)
  fi
  # the crash suite (spec/live/crash.live.spec.ts) lists a pool's thin ids with thin_dump
  if [ "${DMVM_CRASH:-0}" = 1 ]; then command -v thin_dump >/dev/null || need+=(thin-provisioning-tools); fi
  [ ${#need[@]} -eq 0 ] || apt_install "${need[@]}"
}

# Sets KPKG from DMVM_KERNEL. Lists are refreshed once if the lookup finds nothing.
resolve_kernel_pkg() {
  local try
  for try in 1 2; do
    case "$DMVM_KERNEL" in
      6.1)
        KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}') ;;
      6.12)
        # The mirror keeps only current builds, so never pin one: take the newest
        # signed image apt knows that still has a download candidate.
        KPKG=""
        local p
        for p in $(apt-cache search --names-only '^linux-image-6\.12\.[0-9]+\+deb12-amd64$' 2>/dev/null \
                   | awk '{print $1}' | sort -rV); do
          # (no `| grep -q` here: under pipefail its early exit would fail the pipeline)
          if [[ $(apt-cache policy "$p" 2>/dev/null) == *"Candidate: "[0-9]* ]]; then KPKG=$p; break; fi
        done ;;
      5.10|newest)
        # Other suites' kernels: resolved in the private apt state (never pinned: the
        # archive drops superseded builds).
        private_apt_init || die "cannot set up the private apt state for DMVM_KERNEL=$DMVM_KERNEL"
        local re
        if [ "$DMVM_KERNEL" = 5.10 ]; then re='^linux-image-5\.10\.0-[0-9]+-amd64$'
        else re='^linux-image-[0-9][^ ]*-amd64$'; fi
        KPKG=$(apt-cache "${PAPT[@]}" search --names-only "$re" 2>/dev/null | awk '{print $1}' \
               | grep -vE -- '-(cloud|rt|dbg|unsigned)-amd64$' | sort -V | tail -n 1)
        [ -n "$KPKG" ] && return 0
        [ "$try" = 1 ] && private_apt_update || break
        continue ;;
      linux-image-*) KPKG=$DMVM_KERNEL; return 0 ;;
      *) die "DMVM_KERNEL must be 5.10, 6.1, 6.12, newest or a linux-image-* package name (got '$DMVM_KERNEL')" ;;
    esac
    [ -n "$KPKG" ] && return 0
    [ "$try" = 1 ] && apt_update || break
  done
  die "cannot resolve a kernel package for DMVM_KERNEL=$DMVM_KERNEL (apt lists missing? run apt-get update as root)"
}

# A private apt state (sources, lists, cache) under the cache dir, for kernel packages of
# other Debian suites: bullseye (5.10) and trixie/trixie-backports/sid (the newest). It uses
# the mirrors the host's own sources name and the installed archive keyring; the host's
# apt configuration is never changed. PAPT holds the apt-get/apt-cache options.
PAPT=()
PAPT_UPDATED=0
private_apt_init() {
  [ ${#PAPT[@]} -gt 0 ] && return 0
  local dir=$DMVM_CACHE/apt main sec keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  [ -r "$keyring" ] || { log "no $keyring (package debian-archive-keyring)"; return 1; }
  # The host's mirrors: URIs of deb822 .sources files and one-line sources.list entries.
  local uris
  uris=$( { cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/{for (i = 2; i <= NF; i++) print $i}';
            cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
              | awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; break}}'; } )
  main=$(printf '%s\n' "$uris" | grep -v -- '-security' | grep -m1 -E '/debian/?$' || true)
  sec=$(printf '%s\n' "$uris" | grep -m1 -E '/debian-security/?$' || true)
  [ -n "$main" ] || { log "no Debian mirror found in the host's apt sources"; return 1; }
  main=${main%/}; sec=${sec%/}
  mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
  {
    echo "deb [signed-by=$keyring] $main bullseye main"
    [ -n "$sec" ] && echo "deb [signed-by=$keyring] $sec bullseye-security main"
    echo "deb [signed-by=$keyring] $main trixie main"
    echo "deb [signed-by=$keyring] $main trixie-backports main"
    echo "deb [signed-by=$keyring] $main sid main"
  } > "$dir/sources.list.new"
  # New mirrors (another host) mean the lists must be fetched again.
  if ! cmp -s "$dir/sources.list.new" "$dir/sources.list"; then
    mv "$dir/sources.list.new" "$dir/sources.list"; rm -f "$dir/.updated"
  else rm -f "$dir/sources.list.new"; fi
  PAPT=(-o "Dir::Etc::sourcelist=$dir/sources.list" -o Dir::Etc::sourceparts=/dev/null
        -o "Dir::State::Lists=$dir/lists" -o "Dir::Cache=$dir/cache" -o APT::Sandbox::User=root)
  [ -e "$dir/.updated" ] || private_apt_update
}

private_apt_update() {  # once per run
  [ "$PAPT_UPDATED" = 0 ] && [ "$DMVM_NO_APT" != 1 ] || return 1
  PAPT_UPDATED=1
  log "apt-get update (private state for other suites' kernels)"
  apt-get "${PAPT[@]}" update -qq >&2 && touch "$DMVM_CACHE/apt/.updated"
}

# The packages that make up kernel $1: itself, plus the linux-binary/-modules/-base
# packages newer Debian kernels are split into (linux-base-<ver> carries modules.builtin,
# which modprobe needs to know that virtio_pci and friends are built in).
kernel_packages() {
  echo "$1"
  local ver=${1#linux-image-}
  { apt-cache "${PAPT[@]}" depends "$1" 2>/dev/null | sed -n 's/^ *Depends: \(linux-\(binary\|modules\|base\)-[^ ]*\)$/\1/p' \
    | grep -F -- "$ver" | sort -u; } || true
}

# Everything that goes into the initramfs; its hash names the cpio.
INIT_SCRIPT=$(cat <<'GUEST_INIT'
#!/bin/sh
# devicemapper vm guest init (PID 1, busybox, inside the initramfs)
export PATH=/bin:/sbin
say() { read -r up _ < /proc/uptime; echo "dmvm-init [$up]: $*"; }
status_file=/dmvm/status
finish() {  # $1 = status to report
  echo "$1" > "$status_file"
  sync
  poweroff -f
  echo o > /proc/sysrq-trigger
  sleep 5
}
fail() { say "FATAL: $*"; finish "init-failed: $*"; }

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
KVER=$(uname -r)
for m in $(cat /etc/dmvm-modules); do
  insmod "/modules/$m" || say "insmod $m failed"
done
say "modules loaded"
O9P="trans=virtio,version=9p2000.L,msize=@MSIZE@"
mkdir -p /dmvm /lower /upper /newroot
mount -t 9p -o "$O9P,cache=none" dmvmrun /dmvm || fail "cannot mount the run dir (9p tag dmvmrun)"
. /dmvm/config || fail "cannot read /dmvm/config"

mount -t 9p -o "$O9P,cache=loose,ro" hostroot /lower || fail "cannot mount host root (9p tag hostroot)"
mount -t tmpfs -o mode=0755 tmpfs /upper
mkdir -p /upper/u /upper/w
if ! mount -t overlay -o lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w overlay /newroot; then
  say "overlay failed; using a read-only root with tmpfs on /tmp, /root, /var/tmp"
  mount --bind /lower /newroot
  for d in /tmp /root /var/tmp; do mount -t tmpfs -o mode=1777 tmpfs "/newroot$d"; done
fi
mount -t proc proc /newroot/proc
mount -t sysfs sysfs /newroot/sys
mount -t devtmpfs devtmpfs /newroot/dev
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /newroot/dev/pts
mount -t tmpfs -o mode=1777 tmpfs /newroot/dev/shm
ln -sf /proc/self/fd /newroot/dev/fd
ln -sf /proc/self/fd/0 /newroot/dev/stdin
ln -sf /proc/self/fd/1 /newroot/dev/stdout
ln -sf /proc/self/fd/2 /newroot/dev/stderr
mount -t tmpfs -o mode=0755 tmpfs /newroot/run
mkdir -p /newroot/run/dmvm /newroot/run/lock
mount --move /dmvm /newroot/run/dmvm || fail "mount --move run dir"
status_file=/newroot/run/dmvm/status
i=0
for p in $DMVM_RW_PATHS; do
  mkdir -p "/newroot$p" 2>/dev/null
  mount -t 9p -o "$O9P,cache=mmap" "rw$i" "/newroot$p" || say "cannot mount rw share $p"
  i=$((i+1))
done
say "filesystems mounted"
# the kernel's modules at /lib/modules/$KVER (bind of the host cache dir)
chroot /newroot /bin/mkdir -p "/lib/modules/$KVER" \
  && mount --bind "/newroot$DMVM_MODDIR" "/newroot/lib/modules/$KVER" \
  || say "cannot bind modules dir"
# kernel module autoloading: the usermode helper runs in this (initramfs) root
echo /sbin/modprobe > /proc/sys/kernel/modprobe
chroot /newroot /sbin/modprobe -a dm_mod loop || say "modprobe dm_mod loop failed"
say "dm_mod loaded"
[ -c /newroot/dev/mapper/control ] || say "WARNING: no /dev/mapper/control"

out=/dev/null; err=/dev/null
for p in /sys/class/virtio-ports/*; do
  [ -e "$p/name" ] || continue
  case "$(cat "$p/name")" in
    dmvm.out) out=/dev/${p##*/} ;;
    dmvm.err) err=/dev/${p##*/} ;;
  esac
done
say "running command"
chroot /newroot /bin/bash /run/dmvm/cmd </dev/null >"$out" 2>"$err"
rc=$?
say "command exited with $rc"
finish "$rc"
GUEST_INIT
)
INIT_SCRIPT=${INIT_SCRIPT//@MSIZE@/$MSIZE}

MODPROBE_WRAPPER='#!/bin/sh
# called by the kernel (request_module) with the initramfs as root
exec /bin/chroot /newroot /sbin/modprobe "$@"'

INITRAMFS_MODULES="virtio_pci virtio_mmio virtio_console 9pnet_virtio 9p overlay"

extract_vmlinux() {  # bzImage -> vmlinux: find the compressed payload and unpack it
  local img=$1 out=$2 pair magic tool off
  for pair in '\xFD\x37\x7A\x58\x5A\x00:xz -dc' '\x28\xB5\x2F\xFD:zstd -dcq' \
              '\x1F\x8B\x08\x00:gzip -dcq' '\x02\x21\x4C\x18:lz4 -dcq'; do
    magic=${pair%%:*}; tool=${pair#*:}
    command -v "${tool%% *}" >/dev/null || continue
    for off in $(LC_ALL=C grep -obUaP "$magic" "$img" | cut -d: -f1 | head -n 3); do
      tail -c +"$((off + 1))" "$img" | $tool > "$out.tmp" 2>/dev/null
      if [ "$(head -c 4 "$out.tmp" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then
        mv "$out.tmp" "$out"; return 0
      fi
    done
  done
  rm -f "$out.tmp"; return 1
}

prepare_kernel() {
  ensure_host_tools
  resolve_kernel_pkg
  KVER=${KPKG#linux-image-}
  KVER=${KVER%-unsigned}
  KDIR=$DMVM_CACHE/$KVER
  KROOT=$KDIR/root
  if [ ! -e "$KDIR/.extracted" ]; then
    log "preparing kernel $KPKG in $KDIR"
    rm -rf "$KDIR"; mkdir -p "$KDIR"
    # apt's sandbox user (_apt) must be able to write the download dir, and the
    # cache usually sits under a 0700 home: download in /tmp instead.
    local dl; dl=$(mktemp -d /tmp/dmvm-dl.XXXXXX); chmod 0777 "$dl"
    local pkgs; pkgs=$(kernel_packages "$KPKG")
    # shellcheck disable=SC2086
    ( cd "$dl" && apt-get "${PAPT[@]}" download $pkgs >&2 ) \
      || { { [ ${#PAPT[@]} -gt 0 ] && private_apt_update || apt_update; } && ( cd "$dl" && apt-get "${PAPT[@]}" download $pkgs >&2 ); } \
      || { rm -rf "$dl"; die "apt-get download $pkgs failed"; }
    local deb; for deb in "$dl"/*.deb; do dpkg-deb -x "$deb" "$KROOT"; done
    rm -rf "$dl"
    # Merged /usr (trixie and later): modules under usr/lib/modules.
    [ -e "$KROOT/lib" ] || [ ! -d "$KROOT/usr/lib/modules" ] || ln -s usr/lib "$KROOT/lib"
    [ -d "$KROOT/lib/modules/$KVER" ] || die "no modules in $pkgs"
    depmod -b "$KROOT" "$KVER"
    touch "$KDIR/.extracted"
  fi
  KERNEL=
  local k; for k in "$KROOT"/boot/vmlinuz-* "$KROOT/lib/modules/$KVER/vmlinuz"; do
    [ -e "$k" ] && { KERNEL=$k; break; }
  done
  [ -n "$KERNEL" ] || die "no kernel image in $KPKG"
  # An uncompressed vmlinux boots through PVH: no real-mode setup and, above all,
  # no in-guest decompression, which is slow under TCG (measured 7.6 s vs 4.0 s).
  VMLINUX=$KDIR/vmlinux
  if [ ! -e "$VMLINUX" ] && [ ! -e "$KDIR/.no-vmlinux" ]; then
    extract_vmlinux "$KERNEL" "$VMLINUX" || { log "could not extract vmlinux; booting the bzImage"; touch "$KDIR/.no-vmlinux"; }
  fi
  [ -e "$VMLINUX" ] && KERNEL=$VMLINUX
  MODDIR=$KROOT/lib/modules/$KVER
  local h
  h=$( { printf '%s\n' "$INIT_SCRIPT" "$MODPROBE_WRAPPER" "$INITRAMFS_MODULES" "$KVER"; cat /bin/busybox; } | sha1sum | cut -c1-12)
  INITRD=$KDIR/initramfs-$h.cpio.gz
  if [ ! -e "$INITRD" ]; then
    log "building $INITRD"
    local t; t=$(mktemp -d /tmp/dmvm-initramfs.XXXXXX)
    mkdir -p "$t"/{bin,sbin,etc,proc,sys,dev,modules,dmvm,lower,upper,newroot}
    cp /bin/busybox "$t/bin/busybox"
    local a; for a in $("$t/bin/busybox" --list); do
      [ "$a" = busybox ] || ln -s busybox "$t/bin/$a"
    done
    printf '%s\n' "$INIT_SCRIPT" > "$t/init"; chmod 755 "$t/init"
    rm -f "$t/sbin/modprobe"; printf '%s\n' "$MODPROBE_WRAPPER" > "$t/sbin/modprobe"; chmod 755 "$t/sbin/modprobe"
    : > "$t/etc/dmvm-modules"
    local line f
    # dependency order from kmod itself; "builtin X" lines are skipped
    modprobe -d "$KROOT" -S "$KVER" -a --show-depends $INITRAMFS_MODULES | while read -r line; do
      case "$line" in insmod\ *) f=${line#insmod }; f=${f%% *}
        if ! grep -qx "$(basename "$f")" "$t/etc/dmvm-modules"; then
          cp "$f" "$t/modules/"; basename "$f" >> "$t/etc/dmvm-modules"; fi ;;
      esac
    done
    ( cd "$t" && find . | cpio -o -H newc --quiet | gzip -1 ) > "$INITRD.tmp"
    mv "$INITRD.tmp" "$INITRD"
    rm -rf "$t"
  fi
}

# ------------------------------------------------------------------ main ---
# The body is a function so that bash has parsed all of it before running any:
# editing this file while a (long) VM run is in progress cannot derail it.
PREPARING=0
setup_failed() {  # EXIT trap while preparing: any failure there means "no VM" = 125
  local rc=$?
  if [ "$PREPARING" = 1 ] && [ "$rc" != 0 ] && [ "$rc" != 125 ]; then
    log "error: VM setup failed (exit $rc)"; exit 125
  fi
}

main() {
case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  "") usage >&2; exit 2 ;;
esac
PREPARING=1
trap setup_failed EXIT
case "$1" in
  --setup) prepare_kernel; log "ready: $KPKG, kernel $KERNEL, initrd $INITRD"; exit 0 ;;
  --print-kernel) resolve_kernel_pkg; echo "$KPKG"; exit 0 ;;
esac

prepare_kernel
PREPARING=0

RUN=$(mktemp -d /tmp/dmvm-run.XXXXXX)
QPID=; CATS=()
cleanup() {
  [ -n "$QPID" ] && kill "$QPID" 2>/dev/null || true
  [ "$DMVM_KEEP" = 1 ] && log "run dir kept: $RUN" || rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the command file run by the guest's /bin/bash
{
  echo '#!/bin/bash'
  if [ "$DMVM_PASS_ENV" = 1 ]; then
    export -p | grep -vE '^declare -x (PWD|OLDPWD|SHLVL|_|BASH_[A-Z_]*|SSH_[A-Z_]*|TMUX|TMUX_PANE|DISPLAY|XDG_RUNTIME_DIR|DBUS_SESSION_BUS_ADDRESS)(=|$)' || true
  else
    echo 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TERM=dumb'
  fi
  if [ "${DMVM_UDEV:-0}" = 1 ]; then
    # The udev flavour: udevd runs in the guest and owns /dev/mapper (dmsetup's rules).
    printf 'export DMVM_GUEST=1 DMVM_UDEV=1 DMVM_KERNEL_PKG=%q\n' "$KPKG"
    echo 'unset DM_DISABLE_UDEV'
    echo 'mkdir -p /run/udev && /lib/systemd/systemd-udevd --daemon >/dev/null 2>&1 && udevadm settle -t 10'
  else
    printf 'export DMVM_GUEST=1 DM_DISABLE_UDEV=1 DMVM_KERNEL_PKG=%q\n' "$KPKG"
  fi
  printf 'cd -- %q 2>/dev/null || cd /\n' "$PWD"
  if [ "$1" = - ]; then cat; else printf '%s\n' "$*"; fi
} > "$RUN/cmd"

# --- the guest's config (sourced by its init)
rwpaths=""
for p in $DMVM_RW; do
  p=$(readlink -f "$p") || continue
  [ -d "$p" ] || { log "skipping DMVM_RW entry $p (not a directory)"; continue; }
  rwpaths+=" $p"
done
{
  printf 'DMVM_RW_PATHS=%q\n' "$rwpaths"
  printf 'DMVM_MODDIR=%q\n' "$MODDIR"
} > "$RUN/config"

# --- acceleration
kvm_usable() {  # /dev/kvm opens read-write and is backed by hardware virtualization
  [ -c /dev/kvm ] && ( : <>/dev/kvm ) 2>/dev/null || return 1
  [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]
}
AUTO_KVM=0
case "$DMVM_ACCEL" in
  auto) if kvm_usable; then ACCEL=kvm; AUTO_KVM=1; else ACCEL=tcg; fi ;;
  kvm|tcg) ACCEL=$DMVM_ACCEL ;;
  *) die "DMVM_ACCEL must be auto, tcg or kvm" ;;
esac

APPEND="console=ttyS0 quiet loglevel=4 panic=-1 rdinit=/init tsc=reliable no_timer_check noreplace-smp mitigations=off random.trust_cpu=on ${DMVM_KERNEL_ARGS:-}"
fs9p() {  # tag path [extra fsdev opts]
  qemu+=(-fsdev "local,id=fs_$1,path=$2,security_model=passthrough,multidevs=remap${3:+,$3}"
         -device "virtio-9p-pci,fsdev=fs_$1,mount_tag=$1")
}

run_vm() {  # one boot with $ACCEL; sets qrc
  local f accel
  rm -f "$RUN/out" "$RUN/err" "$RUN/console.fifo" "$RUN/console.log" "$RUN/status" "$RUN/monitor.sock"
  CATS=()
  # output channels: FIFOs read by cat processes that own our stdout/stderr
  mkfifo "$RUN/out" "$RUN/err"
  cat "$RUN/out" & CATS+=($!)
  cat "$RUN/err" >&2 & CATS+=($!)
  if [ "$DMVM_VERBOSE" = 1 ]; then mkfifo "$RUN/console.fifo"; cat "$RUN/console.fifo" >&2 & CATS+=($!); CONSOLE=$RUN/console.fifo
  else CONSOLE=$RUN/console.log; fi
  case "$ACCEL" in
    kvm) accel=(-accel kvm -cpu "${DMVM_CPU:-host}") ;;
    tcg) accel=(-accel "tcg,thread=multi" -cpu "${DMVM_CPU:-max}") ;;
  esac
  qemu=(qemu-system-x86_64 -nodefaults -no-user-config -nographic -no-reboot
    "${accel[@]}" -M pc -smp "$DMVM_CPUS" -m "$DMVM_MEM"
    -kernel "$KERNEL" -initrd "$INITRD" -append "$APPEND"
    -chardev "file,id=con,path=$CONSOLE" -serial chardev:con
    -monitor "unix:$RUN/monitor.sock,server=on,wait=off")
  fs9p hostroot / readonly=on
  fs9p dmvmrun "$RUN"
  local i=0 p; for p in $rwpaths; do fs9p "rw$i" "$p"; i=$((i+1)); done
  qemu+=(-device "virtio-serial-pci,id=vser"
    -chardev "file,id=out,path=$RUN/out" -device virtserialport,bus=vser.0,chardev=out,name=dmvm.out
    -chardev "file,id=err,path=$RUN/err" -device virtserialport,bus=vser.0,chardev=err,name=dmvm.err)
  timeout -k 10 "$DMVM_TIMEOUT" "${qemu[@]}" </dev/null >"$RUN/qemu.log" 2>&1 &
  QPID=$!
  set +e
  wait "$QPID"; qrc=$?
  QPID=
  # if qemu died before opening a FIFO, its reader still blocks in open(): release it
  for f in out err console.fifo; do [ -p "$RUN/$f" ] && { : 1<>"$RUN/$f"; } 2>/dev/null; done
  wait "${CATS[@]}" 2>/dev/null
  set -e
}

T0=$(date +%s.%N)
run_vm
T1=$(date +%s.%N)
if [ ! -f "$RUN/status" ] && [ "$AUTO_KVM" = 1 ] && [ "$qrc" != 124 ] && [ "$qrc" != 137 ] \
   && awk -v a="$T0" -v b="$T1" 'BEGIN{exit !(b-a < 10)}'; then
  log "the KVM VM failed early (qemu exit $qrc); retrying with TCG. qemu said:"
  tail -n 5 "$RUN/qemu.log" >&2
  ACCEL=tcg
  T0=$(date +%s.%N); run_vm; T1=$(date +%s.%N)
fi
# A guest kernel that panics within a minute of starting is most likely the emulator's flake
# while booting, not the code under test (seen once on 7.3 under TCG: an int3 Oops while the
# kernel patched its own text on a second vCPU, 2 s into the boot). Booted once more, saying
# so; a panic the code under test causes panics again and is reported.
if [ ! -f "$RUN/status" ] && [ "$qrc" != 124 ] && [ "$qrc" != 137 ] \
   && grep -q 'Kernel panic' "$RUN/console.log" 2>/dev/null \
   && awk -v a="$T0" -v b="$T1" 'BEGIN{exit !(b-a < 60)}'; then
  log "the guest kernel panicked within a minute of starting (qemu exit $qrc): taken for a boot flake, booting once more. Its console said:"
  grep -m1 -B2 -A3 'Oops\|Kernel panic' "$RUN/console.log" >&2 || true
  T0=$(date +%s.%N); run_vm; T1=$(date +%s.%N)
fi

if [ -f "$RUN/status" ]; then
  st=$(cat "$RUN/status")
  case "$st" in
    ''|*[!0-9]*) log "guest init failed: $st"; rc=125 ;;
    *) rc=$st ;;
  esac
elif [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
  log "timed out after ${DMVM_TIMEOUT}s"; rc=124
else
  log "the VM ended without reporting a status (qemu exit $qrc)"; rc=125
fi
if [ "$rc" = 125 ] || [ "$rc" = 124 ]; then
  [ -s "$RUN/qemu.log" ] && { log "qemu said:"; tail -n 20 "$RUN/qemu.log" >&2; }
  [ -f "$RUN/console.log" ] && { log "guest console (last 40 lines):"; tail -n 40 "$RUN/console.log" >&2; }
fi
[ "${DMVM_TIMING:-0}" = 1 ] && log "$(awk -v a="$T0" -v b="$T1" -v acc="$ACCEL" -v k="$KPKG" 'BEGIN{printf "VM wall time %.2fs (%s, accel %s)", b-a, k, acc}')"
exit "$rc"
}

main "$@"
