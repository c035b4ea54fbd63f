#!/usr/bin/env bash
# The consumer test (`npm run test:consumer`, a stage of .ci/run): what a user gets from
# `npm install devicemapper`, checked without the network. It packs the package, installs the
# tarball into a scratch project in a temporary directory (its dependencies koffi and zod
# linked from this repository's node_modules, which `npm ci` installed; no install scripts),
# compiles src/main.mts against it (strict, noUncheckedIndexedAccess, module nodenext, no
# skipLibCheck) with the lowest TypeScript we support (devDependency `typescript-min`) and with
# the project's own, runs it on the simulated kernel, compiles and runs src/require.cts
# (require() of the ESM package from CommonJS), and runs the installed dmctl bin (--version
# from the installed package.json; hints without the repository's VM).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
HERE=$ROOT/consumer-test
TMP=$(mktemp -d "${TMPDIR:-/tmp}/devicemapper-consumer.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

echo "consumer: npm pack (runs the build)"
TARBALL=$TMP/$(npm pack --pack-destination "$TMP" --silent | tail -n 1)
echo "consumer: $(basename "$TARBALL"), $(wc -c <"$TARBALL") bytes, $(tar -tzf "$TARBALL" | wc -l) files"

APP=$TMP/app
mkdir -p "$APP"
cp -r "$HERE/src" "$HERE/tsconfig.json" "$HERE/tsconfig.cjs.json" "$HERE/tsconfig.only-client.json" "$APP/"
cat >"$APP/package.json" <<JSON
{
  "name": "devicemapper-consumer",
  "private": true,
  "type": "module",
  "dependencies": {
    "koffi": "file:$ROOT/node_modules/koffi",
    "zod": "file:$ROOT/node_modules/zod"
  }
}
JSON
cd "$APP"
npm install --offline --ignore-scripts --no-audit --no-fund --loglevel=error "$TARBALL"
# The consumer's own @types/node (a Node project has it); linked, not fetched.
mkdir -p node_modules/@types
ln -s "$ROOT/node_modules/@types/node" node_modules/@types/node
# No path back into the repository may stand in for the installed package.
test ! -L node_modules/devicemapper
test -f node_modules/devicemapper/LICENSE

tsc_min=$ROOT/node_modules/typescript-min/bin/tsc
tsc_cur=$ROOT/node_modules/typescript/bin/tsc
for tsc in "$tsc_min" "$tsc_cur"; do
  rm -rf out
  echo "consumer: TypeScript $(node "$tsc" --version | sed 's/Version //'): compile src/main.mts"
  node "$tsc" -p tsconfig.json
  node out/main.mjs
done
# A program that imports only DeviceMapper loads none of zod's declaration files: the root's
# types name no zod type (the target schemas' are devicemapper/define-target's).
node "$tsc_cur" -p tsconfig.only-client.json --listFiles >only-client-files.txt
zod_files=$(grep -c '/node_modules/zod/' only-client-files.txt || true)
echo "consumer: a DeviceMapper-only program loads $(wc -l <only-client-files.txt) declaration files, $zod_files of zod"
if [ "$zod_files" -gt 0 ]; then grep '/node_modules/zod/' only-client-files.txt | head -5; echo "consumer: the root's types pull in zod"; exit 1; fi
echo "consumer: TypeScript $(node "$tsc_cur" --version | sed 's/Version //'): compile src/require.cts"
node "$tsc_cur" -p tsconfig.cjs.json
node out/require.cjs
# The same from plain CommonJS JavaScript, with nothing compiled.
node -e "const m = require('devicemapper'); if (typeof m.DeviceMapper.open !== 'function') process.exit(1); console.log('consumer: require(\"devicemapper\") from node -e: ok')"
./node_modules/.bin/dmctl help >/dev/null
echo "consumer: installed dmctl bin runs: ok"
# --version reads the installed package.json at run time (ESM, from node_modules) and exits 0
# even where device-mapper is missing (as here) or closed to this user.
version=$(node -p "require('$ROOT/package.json').version")
out=$(./node_modules/.bin/dmctl --version)
grep -qxF "Library version:   devicemapper $version (dmctl)" <<<"$out" || { echo "consumer: dmctl --version printed: $out"; exit 1; }
grep -q '^Driver version:    ' <<<"$out"
# Hints fit an installed package: never the repository's `npm run vm`; the repository's own
# bin (a checkout) names it when device-mapper is missing.
if ! err=$(./node_modules/.bin/dmctl ls 2>&1 >/dev/null); then
  grep -q 'try: ' <<<"$err"
  if grep -q 'npm run vm' <<<"$err"; then echo "consumer: installed dmctl hints at the repository's VM: $err"; exit 1; fi
  if grep -q 'not available' <<<"$err"; then
    checkout_err=$(node "$ROOT/bin/dmctl.js" ls 2>&1 >/dev/null || true)
    grep -q 'npm run vm -- npx dmctl ls' <<<"$checkout_err" || { echo "consumer: the checkout's dmctl does not name the VM: $checkout_err"; exit 1; }
  fi
fi
echo "consumer: installed dmctl --version ($version) and hints: ok"
echo "consumer test passed"
