#!/usr/bin/env bash
# test-live.sh - run the live test suite (spec/**/*.live.spec.ts) against real
# device-mapper kernels. This is what `npm run test:live` runs.
#
# For each kernel in DM_KERNELS it boots a throwaway VM (vm/run-in-vm.sh) and
# runs, inside it, as root, in the repository:
#   DM_LIVE=1 node node_modules/jest/bin/jest.js --json --outputFile=.cache/live/<kernel>.json [ARGS...]
# streaming jest's human-readable output, then prints per-kernel counts and one
# closing line "live: N passed, N failed, N skipped".
#
# Usage:
#   vm/test-live.sh [extra jest args...]       # e.g. -t smoke
#   npm run test:live -- -t smoke
#
# Environment:
#   DM_KERNELS      kernels to test, each as DMVM_KERNEL takes it   (default "6.1 6.12";
#                   also 5.10 = Debian 11's kernel, newest = the highest Debian offers)
#   DM_LIVE_DIRECT  1 = this host already has device-mapper and root: run the
#                   live suite here, no VM (label: DM_KERNEL_LABEL or host-<uname -r>)
#   CI              set (and not "false"/"0"): a VM that cannot be started fails the run.
#                   Unset: if no VM can be started at all (no qemu and not root to install
#                   it, no kernel package, ...), print why and exit 0 (skipped).
#   DMVM_*          passed to vm/run-in-vm.sh (DMVM_CACHE, DMVM_TIMEOUT, DMVM_MEM, ...)
#
# Inside the guest the tests see DM_LIVE=1, DM_KERNEL_LABEL (the DM_KERNELS
# entry), DMVM_KERNEL_PKG, and DM_LIVE_REPORT (a JSON file where tests record
# facts such as the dm version; see spec/live/live-env.ts).
#
# Exit status: 0 when every kernel's suite passed (or everything was skipped
# outside CI); 1 when any suite failed; 125 when a VM did not start.
set -uo pipefail

SELF=$(readlink -f "${BASH_SOURCE[0]}")
REPO=$(dirname "$(dirname "$SELF")")
cd "$REPO" || exit 2
# Live specs run the built package (dist/); `npm ci` no longer builds it (no `prepare`), so a
# fresh clone builds here once. `npm run test:live` always rebuilds first.
if [ ! -f dist/lib/index.js ]; then npm run build || exit 2; fi
OUT=$REPO/.cache/live
mkdir -p "$OUT"
DM_KERNELS=${DM_KERNELS:-6.1 6.12}
in_ci() { case "${CI:-}" in ''|false|0) return 1 ;; *) return 0 ;; esac; }

log() { echo "test-live: $*" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b-a}'; }

# jest's reporter writes to stderr; keep colours when that is a terminal.
COLORS=(); [ -t 2 ] && COLORS=(--colors)

# Reads a jest --json file: prints "passed failed skipped suites_failed".
counts() {
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const skipped = (r.numPendingTests || 0) + (r.numTodoTests || 0);
    const brokenSuites = (r.numFailedTestSuites || 0) + (r.numRuntimeErrorTestSuites || 0);
    console.log(r.numPassedTests, r.numFailedTests, skipped, brokenSuites);
  ' "$1" 2>/dev/null
}
# Reads the facts file written by the tests: prints "dm <version>" or nothing.
facts() {
  node -e '
    try {
      const f = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
      const parts = [];
      if (f.kernelRelease) parts.push(f.kernelRelease);
      if (f.dmVersion) parts.push("dm " + f.dmVersion);
      process.stdout.write(parts.join(", "));
    } catch {}
  ' "$1" 2>/dev/null
}

TOTAL_P=0 TOTAL_F=0 TOTAL_S=0
SUMMARY=()
ANY_FAIL=0 VM_FAIL=0 RAN=0
SKIP_REASONS=()

# Records one kernel's outcome. $1 label, $2 jest exit code, $3 extra text.
record() {
  local label=$1 rc=$2 extra=$3 json=$OUT/$1.json c p f s b info
  if [ -s "$json" ] && c=$(counts "$json") && [ -n "$c" ]; then
    read -r p f s b <<<"$c"
    TOTAL_P=$((TOTAL_P + p)); TOTAL_F=$((TOTAL_F + f)); TOTAL_S=$((TOTAL_S + s))
    info=$(facts "$OUT/$label.facts.json")
    local verdict=PASS
    if [ "$rc" != 0 ] || [ "$f" != 0 ] || [ "$b" != 0 ]; then verdict=FAIL; ANY_FAIL=1; fi
    SUMMARY+=("$(printf '%-5s kernel %-6s %s passed, %s failed, %s skipped%s%s' \
      "$verdict" "$label" "$p" "$f" "$s" "${info:+  [$info]}" "${extra:+  $extra}")")
  else
    ANY_FAIL=1
    SUMMARY+=("$(printf 'FAIL  kernel %-6s jest produced no results (exit %s)%s' "$label" "$rc" "${extra:+  $extra}")")
  fi
}

# Two runs at once would share .cache/live/ files and fight for the same two
# cores; the second one waits for the first.
take_lock() {
  command -v flock >/dev/null || return 0
  exec 9>"$OUT/.lock"
  if ! flock -n 9; then
    log "another test:live run is in progress; waiting for it (lock $OUT/.lock)"
    flock -w 3600 9 || { log "gave up waiting for $OUT/.lock"; exit 125; }
  fi
}

# The body is a function so that bash has parsed all of it before running any:
# editing this file during a (long) run cannot derail that run.
main() {
# In the VM: one process (live tests share the kernel's global dm state, and a
# jest worker costs a Node start-up under TCG), and a transform cache that
# survives the throwaway guest.
JEST_VM_ARGS=(--runInBand --cacheDirectory=.cache/jest-live)
JEST_ARGS=()
for a in "$@"; do JEST_ARGS+=("$a"); done
take_lock

for k in $DM_KERNELS; do
  case "$k" in 5.10|6.1|6.12|newest|linux-image-*) ;;
    *) log "DM_KERNELS entry '$k' is not 5.10, 6.1, 6.12, newest or a linux-image-* package name"; exit 2 ;;
  esac
done

# ---------------------------------------------------------------- direct ---
if [ "${DM_LIVE_DIRECT:-0}" = 1 ]; then
  label=${DM_KERNEL_LABEL:-host-$(uname -r)}
  rm -f "$OUT/$label.json" "$OUT/$label.facts.json"
  log "DM_LIVE_DIRECT=1: running the live suite on this host ($label)"
  DM_LIVE=1 DM_KERNEL_LABEL=$label DM_LIVE_REPORT=$OUT/$label.facts.json \
    node node_modules/jest/bin/jest.js --json --outputFile="$OUT/$label.json" --runInBand "${COLORS[@]}" "${JEST_ARGS[@]}"
  rc=$?
  record "$label" "$rc" ""
  printf '%s\n' "${SUMMARY[@]}"
  echo "live: $TOTAL_P passed, $TOTAL_F failed, $TOTAL_S skipped"
  exit "$ANY_FAIL"
fi

# -------------------------------------------------------------------- vm ---
for k in $DM_KERNELS; do
  label=$k${DMVM_UDEV:+$([ "$DMVM_UDEV" = 1 ] && echo -udev)}
  # the real-tools run keeps its own results next to the same kernel's default run
  [ "${DMVM_REALTOOLS:-0}" = 1 ] && label+=-realtools
  # and so does the crash suite (spec/live/crash.live.spec.ts, opt-in with DMVM_CRASH=1)
  [ "${DMVM_CRASH:-0}" = 1 ] && label+=-crash
  json=$OUT/$label.json facts_file=$OUT/$label.facts.json boot_file=$OUT/$label.boot
  rm -f "$json" "$facts_file" "$boot_file"

  log "=== kernel $k: preparing"
  t0=$(now)
  # setup progress (apt, download) is streamed and kept for the skip reason
  setup_log=$(mktemp /tmp/dm-test-live-setup.XXXXXX)
  if ! DMVM_KERNEL=$k bash "$REPO/vm/run-in-vm.sh" --setup 2>&1 >/dev/null | tee "$setup_log" >&2; then
    reason=$(grep 'error:' "$setup_log" | tail -n 1); rm -f "$setup_log"
    SKIP_REASONS+=("kernel $k: ${reason:-VM setup failed}")
    SUMMARY+=("$(printf 'NO-VM kernel %-6s %s' "$label" "${reason:-VM setup failed}")")
    VM_FAIL=1
    continue
  fi
  rm -f "$setup_log"
  t1=$(now)

  # The guest command: note the guest's uptime when it starts (= its boot time),
  # then run jest. Everything is quoted for bash on the guest side.
  cmd="read -r up _ </proc/uptime; echo \"\$up\" > $(printf %q "$boot_file");"
  cmd+=" DM_LIVE=1 DM_KERNEL_LABEL=$(printf %q "$label") DM_LIVE_REPORT=$(printf %q "$facts_file")"
  cmd+=" node node_modules/jest/bin/jest.js --json --outputFile=$(printf %q "$json") ${JEST_VM_ARGS[*]}"
  for a in "${COLORS[@]}" "${JEST_ARGS[@]}"; do cmd+=" $(printf %q "$a")"; done

  log "=== kernel $k: booting the VM and running the live suite"
  DMVM_KERNEL=$k bash "$REPO/vm/run-in-vm.sh" "$cmd"
  rc=$?
  t2=$(now)
  boot=""; [ -s "$boot_file" ] && boot=$(cat "$boot_file")
  timing="(prepare $(elapsed "$t0" "$t1")s, VM $(elapsed "$t1" "$t2")s${boot:+, guest boot ${boot}s})"
  if [ "$rc" = 124 ] || [ "$rc" = 125 ] && [ ! -s "$json" ]; then
    why="the VM did not start or did not finish (exit $rc)"
    [ "$rc" = 124 ] && why="the VM timed out (DMVM_TIMEOUT)"
    SKIP_REASONS+=("kernel $k: $why")
    SUMMARY+=("$(printf 'NO-VM kernel %-6s %s %s' "$label" "$why" "$timing")")
    VM_FAIL=1
    continue
  fi
  RAN=1
  record "$label" "$rc" "$timing"
done

echo
echo "live test summary:"
printf '  %s\n' "${SUMMARY[@]}"

if [ "$RAN" = 0 ] && [ "$VM_FAIL" = 1 ] && ! in_ci; then
  echo "SKIPPED: no VM could be started, so the live device-mapper tests did not run:"
  printf '  %s\n' "${SKIP_REASONS[@]}"
  echo "  (outside CI this is not an error; with CI=true it fails. See vm/README.md.)"
  exit 0
fi
echo "live: $TOTAL_P passed, $TOTAL_F failed, $TOTAL_S skipped"
[ "$VM_FAIL" = 1 ] && { log "a VM did not start: failing"; exit 125; }
exit "$ANY_FAIL"
}

main "$@"
