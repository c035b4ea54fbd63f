// Prints one fenced block of README.md, found by the marker comment right above it
// (`<!-- snippet: NAME -->` or `<!-- consumer: NAME -->`), so the README test uses the README's
// own text. `--file` prints instead the path the README tells the reader to save the block as
// (the last "as `path`" before the marker). Exits 1 when the marker or the path is missing.
import { readFileSync } from 'node:fs';

const [readmePath, marker, flag] = process.argv.slice(2);
const text = readFileSync(readmePath, 'utf8');
const at = text.indexOf(`<!-- ${marker} -->\n`);
if (at < 0) {
  console.error(`README: no <!-- ${marker} --> marker`);
  process.exit(1);
}
if (flag === '--file') {
  const saves = [...text.slice(Math.max(0, at - 600), at).matchAll(/as `([^`]+)`/g)];
  if (saves.length === 0) {
    console.error(`README: no "as \`path\`" before <!-- ${marker} -->`);
    process.exit(1);
  }
  console.log(saves.at(-1)[1]);
} else {
  const block = /^<!-- [^>]* -->\n(```|~~~)[^\n]*\n([\s\S]*?)^\1[ \t]*$/m.exec(text.slice(at));
  if (!block || block.index !== 0) {
    console.error(`README: <!-- ${marker} --> is not right above a fenced block`);
    process.exit(1);
  }
  process.stdout.write(block[2]);
}
