#!/usr/bin/env bash
# Fetches thin-provisioning-tools 1.x (the Rust rewrite, one `pdata_tools` binary) from Debian
# trixie for bench/thin-tools.bench.ts and bench/thin-metadata.bench.ts, without touching the
# host's apt sources or state: a private sources list, lists directory and cache, the archive
# signature checked with the installed debian-archive-keyring. Nothing is installed; the
# packages are unpacked with dpkg-deb -x into the cache directory.
#
# trixie's pdata_tools (1.1.0) asks for GLIBC_2.34 at most, so it runs on bookworm's 2.36 as it
# is. Where it does not start on the host's glibc, trixie's libc6 is unpacked beside it and the
# tools run through that loader instead:
#   <dir>/root/usr/lib64/ld-linux-x86-64.so.2 --library-path <dir>/root/usr/lib/x86_64-linux-gnu <dir>/root/usr/sbin/pdata_tools thin_delta …
# Either way <dir>/bin/thin_ls, thin_delta, thin_dump, thin_restore and thin_check run it, and
# the line printed on stderr says which.
#
# Usage: bash bench/fetch-rust-thin-tools.sh [<dir>]   (default ~/.cache/devicemapper-bench/rust-thin-tools)
# Prints <dir>/bin (give it to the benches as BENCH_THIN_RUST). SUITE=sid picks sid instead of trixie.
set -euo pipefail

DIR=${1:-${HOME}/.cache/devicemapper-bench/rust-thin-tools}
SUITE=${SUITE:-trixie}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
[ -r "$KEYRING" ] || { echo "fetch-rust-thin-tools: $KEYRING is missing (apt-get install debian-archive-keyring)" >&2; exit 1; }

rm -rf "$DIR/bin"
mkdir -p "$DIR/apt/lists/partial" "$DIR/apt/cache/archives/partial" "$DIR/debs" "$DIR/root"
# The host's own Debian mirror (as vm/run-in-vm.sh finds it): no mirror is named here.
URIS=$( { cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/{for (i = 2; i <= NF; i++) print $i}';
          cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; break}}'; } ) || true  # a missing sources file is no error
MIRROR=$(printf '%s\n' "$URIS" | grep -v -- '-security' | grep -m1 -E '/debian/?$' || true)
[ -n "$MIRROR" ] || { echo "fetch-rust-thin-tools: no Debian mirror in the host's apt sources" >&2; exit 1; }
echo "deb [signed-by=$KEYRING] ${MIRROR%/} $SUITE main" > "$DIR/apt/sources.list"
APT=(apt-get -q
  -o "Dir::Etc::sourcelist=$DIR/apt/sources.list" -o Dir::Etc::sourceparts=/dev/null
  -o "Dir::State::Lists=$DIR/apt/lists" -o "Dir::Cache=$DIR/apt/cache"
  -o Dir::State::status=/dev/null -o Debug::NoLocking=1 -o APT::Architecture=amd64 -o APT::Sandbox::User=root)

"${APT[@]}" update >&2
# Download into debs/ (apt-get download writes to the working directory).
(cd "$DIR/debs" && "${APT[@]}" download thin-provisioning-tools >&2)
for deb in "$DIR"/debs/thin-provisioning-tools_*.deb; do dpkg-deb -x "$deb" "$DIR/root"; done

PDATA="$DIR/root/usr/sbin/pdata_tools"
[ -x "$PDATA" ] || { echo "fetch-rust-thin-tools: no usr/sbin/pdata_tools in the package" >&2; exit 1; }
TOOLS=(thin_ls thin_delta thin_dump thin_restore thin_check)
mkdir -p "$DIR/bin"
if "$PDATA" thin_delta -V >/dev/null 2>&1; then
  HOW="the host's glibc"
  # Links named as the tools, as Debian installs them (pdata_tools picks the tool by its argv[0]): no shell in the timings.
  for t in "${TOOLS[@]}"; do ln -sf "$PDATA" "$DIR/bin/$t"; done
else
  (cd "$DIR/debs" && "${APT[@]}" download libc6 libgcc-s1 >&2)
  for deb in "$DIR"/debs/libc6_*.deb "$DIR"/debs/libgcc-s1_*.deb; do dpkg-deb -x "$deb" "$DIR/root"; done
  LDSO=$(ls "$DIR"/root/usr/lib64/ld-linux-x86-64.so.2 "$DIR"/root/lib64/ld-linux-x86-64.so.2 2>/dev/null | head -1)
  LIBS="$DIR/root/usr/lib/x86_64-linux-gnu:$DIR/root/lib/x86_64-linux-gnu"
  HOW="$SUITE's glibc through $LDSO"
  for t in "${TOOLS[@]}"; do
    printf '#!/bin/sh\n# %s of thin-provisioning-tools from Debian %s, on its own glibc (bench/fetch-rust-thin-tools.sh).\nexec "%s" --library-path "%s" "%s" %s "$@"\n' "$t" "$SUITE" "$LDSO" "$LIBS" "$PDATA" "$t" > "$DIR/bin/$t"
    chmod +x "$DIR/bin/$t"
  done
fi
echo "fetch-rust-thin-tools: thin_delta $("$DIR/bin/thin_delta" -V 2>&1 | head -1) from $SUITE, on $HOW" >&2
echo "$DIR/bin"
