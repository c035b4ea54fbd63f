#!/usr/bin/env bash
# npm run bench:live — the live benchmarks of issue 7, inside the project's VM.
#
#  1. host set-up: gcc and libdevmapper-dev from Debian if missing (apt-get, root);
#  2. compiles the C baselines bench/c/*.c into .cache/bench-c/ (git-ignored);
#  3. npm run build (dist/bench/live.bench.js);
#  4. for each kernel in DM_KERNELS (or DMVM_KERNEL; default 6.1) boots the VM
#     (vm/run-in-vm.sh; TCG here) and runs the bench in it as root.
#
# Knobs (all passed into the guest): BENCH_ROUNDS, BENCH_CALLS, BENCH_CYCLES, BENCH_DMSETUP_CYCLES,
# BENCH_SCALE (e.g. "10 1000 10000"), BENCH_EVENTS, BENCH_WAITS, BENCH_BATCHES (section 5, e.g. "1 10 100 1000"), BENCH_SECTIONS (e.g. "1 3");
# BENCH_PARALLEL (section 6: devices, default 1000), BENCH_PARALLEL_ROUNDS (default 1), BENCH_PARALLEL_CONCURRENCY (default: the library's);
# BENCH_NO_BUILD=1 (use dist/ as it is); DMVM_MEM (default here 4096: 10k devices need ≈ 0.5 GiB of guest kernel memory), DMVM_TIMEOUT.
# Results: a table per section on stdout, then every goal (bench/live-goals.ts) met, MISSED or not run;
# JSON in bench/results/live-<kernel>-<time>.json. `node dist/bench/live-report.js <json> [--write]`
# renders README.md's summary table and bench/README.md's run section from it (bench/live-report.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

need=()
command -v gcc >/dev/null || need+=(gcc libc6-dev)
[ -f /usr/include/libdevmapper.h ] || need+=(libdevmapper-dev)
[ -f /usr/include/linux/dm-ioctl.h ] || need+=(linux-libc-dev)
if [ ${#need[@]} -gt 0 ]; then
  echo "bench:live: installing ${need[*]}" >&2
  if [ "$(id -u)" != 0 ]; then echo "bench:live: need root to apt-get install ${need[*]}" >&2; exit 125; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >&2 \
    || { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >&2; }
fi

out=$root/.cache/bench-c
mkdir -p "$out"
gcc -O2 -Wall -Werror -o "$out/dm_raw" bench/c/dm_raw.c
gcc -O2 -Wall -Werror -o "$out/libdm" bench/c/libdm.c -ldevmapper
gcc -O2 -Wall -Werror -o "$out/rusage" bench/c/rusage.c

[ "${BENCH_NO_BUILD:-0}" = 1 ] || npm run --silent build

# The same pure-JS probe on the host and in the guest: how much TCG inflates JavaScript.
export BENCH_HOST_PROBE_NS=$(node dist/bench/live.bench.js --probe)

kernels=${DM_KERNELS:-${DMVM_KERNEL:-6.1}}
export DMVM_MEM=${DMVM_MEM:-4096}
export DMVM_TIMEOUT=${DMVM_TIMEOUT:-3600}
export BENCH_C_DIR=$out
status=0
for k in $kernels; do
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  echo "== bench:live on kernel $k (host load $load, guest RAM ${DMVM_MEM} MiB) ==" >&2
  start=$(date +%s)
  BENCH_HOST_LOAD=$load DM_KERNEL_LABEL=$k DMVM_KERNEL=$k bash vm/run-in-vm.sh node dist/bench/live.bench.js || status=$?
  echo "== kernel $k: $(( $(date +%s) - start )) s in the VM, host load after: $(cut -d' ' -f1-3 /proc/loadavg) ==" >&2
done
exit $status
