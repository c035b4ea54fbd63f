#!/usr/bin/env bash
# The README test (`npm run test:readme`, a stage of .ci/run): a new user's first minutes,
# followed literally and offline. In an empty folder: `npm init -y`, then README's setup
# commands (block `<!-- consumer: setup -->`), its tsconfig.json (`consumer: tsconfig`), its first
# example saved where README says and run with README's command (`snippet: first-example`,
# `consumer: run-first`; the output must be README's `consumer: first-example-output`), then
# its node:test example the same way (`snippet: node-test`, `consumer: run-test`). Every block
# is copied out of README.md here, so README and this test cannot drift apart.
#
# Offline stand-ins for the two installs: `npm install devicemapper` installs the packed tarball
# with the LOWEST version of each dependency range (`^3.3.4` → 3.3.4), taken from npm's cache
# with `npm pack --offline` (with koffi's prebuilt binary package for this platform); `npm
# install --save-dev typescript @types/node` links this repository's TypeScript and Node
# types. Any other line in README's setup block fails the test: teach this script about it.
# Prints the time from `npm init` to the green node:test run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
README=$ROOT/README.md
TMP=$(mktemp -d "${TMPDIR:-/tmp}/devicemapper-readme.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
block() { node "$ROOT/consumer-test/readme-block.mjs" "$README" "$@"; }

echo "readme: npm pack (runs the build)"
TARBALL=$TMP/$(npm pack --pack-destination "$TMP" --silent | tail -n 1)

# The lowest version of each dependency range, and, for a dependency with per-platform
# optional packages (koffi's prebuilt binaries), the one for this platform.
DEPS=$TMP/deps
mkdir -p "$DEPS"
lowest=$(node -e '
  const deps = require(process.argv[1]).dependencies;
  for (const [name, range] of Object.entries(deps)) {
    const m = /^\^(\d+\.\d+\.\d+)$/.exec(range);
    if (!m) { console.error(`readme: ${name}@${range} is not a caret range`); process.exit(1); }
    console.log(`${name}@${m[1]}`);
  }' "$ROOT/package.json")
for spec in $lowest; do
  (cd "$DEPS" && npm pack --offline --silent "$spec" >/dev/null) \
    || { echo "readme: $spec (the lowest of its range) is not in npm's cache; this machine is offline"; exit 1; }
done
for tgz in "$DEPS"/*.tgz; do
  for spec in $(tar -xzOf "$tgz" package/package.json | node -e '
    const pkg = JSON.parse(require("fs").readFileSync(0, "utf8"));
    for (const [name, v] of Object.entries(pkg.optionalDependencies ?? {}))
      if (name.endsWith(`-${process.platform}-${process.arch}`)) console.log(`${name}@${v}`);'); do
    (cd "$DEPS" && npm pack --offline --silent "$spec" >/dev/null) \
      || { echo "readme: $spec is not in npm's cache; this machine is offline"; exit 1; }
  done
done
echo "readme: dependencies at the bottom of their ranges: $(tr '\n' ' ' <<<"$lowest")"

APP=$TMP/app
mkdir -p "$APP"
cd "$APP"
start=$EPOCHREALTIME
npm init -y >/dev/null

# Seconds since `npm init`, printed with each step.
since() { node -e 'console.log((process.argv[2] - process.argv[1]).toFixed(1) + " s")' "$start" "$EPOCHREALTIME"; }
while IFS= read -r line; do
  [ -z "$line" ] && continue
  echo "readme: [$(since)] \$ $line"
  case "$line" in
    'npm install devicemapper')
      npm install --offline --no-audit --no-fund --loglevel=error "$DEPS"/*.tgz "$TARBALL" ;;
    'npm install --save-dev typescript @types/node')
      mkdir -p node_modules/@types node_modules/.bin
      ln -s "$ROOT/node_modules/typescript" node_modules/typescript
      ln -s "$ROOT/node_modules/@types/node" node_modules/@types/node
      ln -s ../typescript/bin/tsc node_modules/.bin/tsc ;;
    'npm pkg set '*)
      eval "$line" ;;
    *)
      echo "readme: README's setup block has a line this test does not know: $line"; exit 1 ;;
  esac
done < <(block 'consumer: setup')

# What was installed is what the README promises.
test ! -L node_modules/devicemapper
node -e '
  const [koffiWanted] = process.argv.slice(1);
  const pkg = require("./package.json"), dm = require("./node_modules/devicemapper/package.json");
  const koffi = require("./node_modules/koffi/package.json").version;
  const bad = [];
  if (pkg.type !== "module") bad.push(`type is ${pkg.type}`);
  if (koffiWanted !== `koffi@${koffi}`) bad.push(`koffi ${koffi} installed, ${koffiWanted} wanted`);
  for (const s of ["preinstall", "install", "postinstall", "prepare"]) if (dm.scripts?.[s]) bad.push(`the installed package has a ${s} script`);
  if (bad.length) { console.error(`readme: ${bad.join("; ")}`); process.exit(1); }' "$(grep '^koffi@' <<<"$lowest")"
if npm help install-scripts >/dev/null 2>&1; then
  # npm 11's own list of dependencies with install scripts: koffi may be there, never devicemapper.
  scripts=$(npm install-scripts ls 2>&1 || true)
  if grep -q 'devicemapper' <<<"$scripts"; then echo "readme: npm lists devicemapper as having an install script: $scripts"; exit 1; fi
  echo "readme: npm install-scripts ls does not list devicemapper ($(grep -c '@' <<<"$scripts" || true) line(s) name a package: $(grep -o '[a-z@/.-]*koffi@[0-9.]*' <<<"$scripts" | head -1))"
fi

# The simulator never loads koffi; prove the installed (lowest) koffi's binary loads and calls C
# without its install script, which npm 11 skipped.
node --input-type=module -e '
  const koffi = (await import("koffi")).default;
  const getpid = koffi.load("libc.so.6").func("int getpid()");
  if (getpid() !== process.pid) { console.error("readme: koffi getpid() is not the pid"); process.exit(1); }
  console.log(`readme: koffi ${koffi.version} loads and calls libc (its install script left unapproved)`);'

block 'consumer: tsconfig' >tsconfig.json

first=$(block 'snippet: first-example' --file)
mkdir -p "$(dirname "$first")"
block 'snippet: first-example' >"$first"
run_first=$(block 'consumer: run-first')
echo "readme: [$(since)] \$ $run_first"
out=$(bash -euo pipefail -c "$run_first")
expected=$(block 'consumer: first-example-output')
if [ "$out" != "$expected" ]; then
  echo "readme: the first example printed:"; echo "$out"; echo "README shows:"; echo "$expected"; exit 1
fi
echo "readme: the first example printed what README shows"

test_file=$(block 'snippet: node-test' --file)
block 'snippet: node-test' >"$test_file"
run_test=$(block 'consumer: run-test')
echo "readme: [$(since)] \$ $run_test"
bash -euo pipefail -c "$run_test" >"$TMP/node-test.out" 2>&1 || { cat "$TMP/node-test.out"; echo "readme: the node:test example failed"; exit 1; }
grep -qE '^# pass [1-9]' "$TMP/node-test.out" && grep -qE '^# fail 0' "$TMP/node-test.out" \
  || { cat "$TMP/node-test.out"; echo "readme: node --test ran no passing test"; exit 1; }
end=$EPOCHREALTIME
echo "readme: node --test: $(grep -E '^# (tests|pass|fail) ' "$TMP/node-test.out" | tr '\n' ' ')"
echo "readme: npm init -y → green node:test run: $(node -e 'console.log((process.argv[2] - process.argv[1]).toFixed(1))' "$start" "$end") s (Node $(node --version), npm $(npm --version))"
echo "README test passed"
