#!/usr/bin/env bash
# npm run demo: run examples/demo on this host when it has device-mapper and root,
# otherwise inside the project's VM (vm/run-in-vm.sh installs what it needs).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ] && [ -c /dev/mapper/control ] && node -e 'require("fs").closeSync(require("fs").openSync("/dev/mapper/control","r+"))' 2>/dev/null; then
  exec node dist/examples/demo.js
fi
echo "demo: no usable device-mapper here; running it in a VM (vm/run-in-vm.sh)" >&2
exec bash vm/run-in-vm.sh node dist/examples/demo.js
