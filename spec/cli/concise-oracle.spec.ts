// dmsetup create --concise as the oracle of the concise scan, where this host has dmsetup:
// its scan runs before libdevmapper opens the control node, so without device-mapper an
// input it refuses fails with its own message, and one it accepts gets as far as the driver
// ("Failure to communicate with kernel device-mapper driver", or an ioctl on a host that has
// it). parseConcise must accept and refuse the same inputs. The table lines are checked
// after the scan by both (not compared here: dmsetup reads them after opening the driver).
import { describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { parseConcise } from '../../lib/index.js';

const dmsetup = spawnSync('dmsetup', ['--version'], { encoding: 'utf8' });
const hasDmsetup = dmsetup.error === undefined && /Library version/.test(dmsetup.stdout ?? '');
const maybe = hasDmsetup ? describe : describe.skip;
if (!hasDmsetup) test.skip('dmsetup is not installed on this host: the concise-scan oracle is skipped', () => {});

const SCAN_ERRORS = /Five comma-separated fields|Backslash must be followed|Invalid flags parameter|Incomplete entry/;

/** Whether dmsetup's scan accepted the input: it failed later (no driver here) or succeeded. */
function dmsetupAccepts(text: string): boolean {
  // A name no device has, so that on a host with device-mapper nothing is created: the
  // inputs below with five fields hold an impossible table line (length 0), which the kernel
  // refuses after the scan accepted it.
  const r = spawnSync('dmsetup', ['create', '--concise', text], { encoding: 'utf8', env: { ...process.env, DM_DISABLE_UDEV: '1' } });
  return !SCAN_ERRORS.test(r.stderr);
}

function dmctlAccepts(text: string): boolean {
  try { parseConcise(text); return true; } catch { return false; }
}

// One device each (or an error in the first): dmsetup creates each device as soon as its
// scan reaches the `;`, so after a first device that fails (no driver) it never scans the
// rest; dmctl scans everything before creating anything (docs/concise.md).
const INPUTS = [
  '', 'a', 'a,b', 'a,b,c,d', 'a,,,,', 'a,,,,;', 'a,,,,0 0 zero', 'a,,,,0 0 zero;',
  'a,,,,0 0 zero,', 'a,,,,0 0 zero\\', 'a,,,,0 0 zero\\,', 'a\\,b,,,,0 0 zero', 'a,,,ro,0 0 zero', 'a,,,rw,0 0 zero', 'a,,,RO,0 0 zero',
  'a,,,x,0 0 zero', 'a, , , ,0 0 zero', ' a,,,,0 0 zero', 'a,,,, 0 0 zero , 0 0 zero', 'a,,,,0 0 zero ;  b,,,,0 0 zero', 'a,,,,0 0 zero;\n',
  'a,,,,0 0 zero\n', 'a,u\\;v,,,0 0 zero', 'a;b', ';', ',,,,', 'a,,,\\r\\o,0 0 zero', 'a,,,,0 0 zero,,', 'a,,,,,0 0 zero',
];

maybe('create --concise scan: dmsetup and parseConcise accept and refuse the same inputs', () => {
  test.each(INPUTS)('%j', (text) => {
    expect({ text, accepted: dmctlAccepts(text) }).toEqual({ text, accepted: dmsetupAccepts(text) });
  });
});
