// Comments say why, not what a run measured or which issue asked for it: a figure goes stale
// with the next run (bench/README.md keeps the runs, dated, with their machines), and an issue
// number sends the reader away from the code. Comments are found with the TypeScript parser,
// so a string or a regex that holds the same text does not count.
import { describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';

const ROOT = path.join(__dirname, '..', '..');

/**
 * An issue reference (`issue`, or `#`, and a number) or a measured time (a number and `µs`,
 * `ms` or `ns`). A duration the code itself sets (a default, a step) is written in words.
 */
export const CITES = /\bissues?\s+#?\d+|(?<![\w&/#])#\d+\b|\d\s?(?:µs|us|ms|ns)\b/i;

/** The comments of one TypeScript or JavaScript source: `{ line, text }`, 1-based lines. */
export function commentsOf(file: string, src: string): { line: number; text: string }[] {
  const sf = ts.createSourceFile(file, src, ts.ScriptTarget.Latest, false, file.endsWith('.ts') ? ts.ScriptKind.TS : ts.ScriptKind.JS);
  const seen = new Set<number>();
  const out: { line: number; text: string }[] = [];
  const take = (ranges: readonly ts.CommentRange[] | undefined) => {
    for (const r of ranges ?? []) {
      if (seen.has(r.pos)) continue;
      seen.add(r.pos);
      const first = sf.getLineAndCharacterOfPosition(r.pos).line;
      src.slice(r.pos, r.end).split('\n').forEach((text, i) => out.push({ line: first + i + 1, text }));
    }
  };
  const visit = (node: ts.Node) => {
    take(ts.getLeadingCommentRanges(src, node.getFullStart()));
    take(ts.getTrailingCommentRanges(src, node.getEnd()));
    node.forEachChild(visit);
  };
  visit(sf);
  take(ts.getLeadingCommentRanges(src, sf.endOfFileToken.getFullStart()));
  return out.sort((a, b) => a.line - b.line);
}

/** `file:line: text` for every comment line of `src` that cites a measurement or an issue. */
export function citations(file: string, src: string): string[] {
  return commentsOf(file, src).filter((c) => CITES.test(c.text)).map((c) => `${file}:${c.line}: ${c.text.trim()}`);
}

function sources(): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    const abs = path.join(ROOT, rel);
    if (fs.statSync(abs).isDirectory()) {
      for (const e of fs.readdirSync(abs)) if (e !== 'node_modules' && e !== 'results') walk(`${rel}/${e}`);
    } else if (/\.(ts|mts|js|mjs)$/.test(rel)) out.push(rel);
  };
  for (const top of ['base', 'codec', 'ffi', 'lib', 'testing', 'cli', 'examples', 'spec']) if (fs.existsSync(path.join(ROOT, top))) walk(top);
  for (const e of fs.readdirSync(path.join(ROOT, 'bench'))) if (/\.ts$/.test(e)) out.push(`bench/${e}`);
  return out.sort();
}

describe('comments say why, without figures or issue numbers', () => {
  test('the rule finds a figure or an issue in a comment, and not in a string, a regex or a template', () => {
    const src = [
      "// measured 0.3 µs per call",
      "const a = 'issue 17 took 5 ms'; /* ok: see issue 12 */",
      "const r = /\\d+ ms/; const t = `${1} ns`;",
      "/**",
      " * Remembers the buffer size (#12).",
      " */",
      "const b = 1; // a private field #x and 3 × 200 milliseconds are fine",
      "// 120ns",
    ].join('\n');
    expect(citations('x.ts', src)).toEqual([
      'x.ts:1: // measured 0.3 µs per call',
      'x.ts:2: /* ok: see issue 12 */',
      'x.ts:5: * Remembers the buffer size (#12).',
      'x.ts:8: // 120ns',
    ]);
  });

  test('no comment in the sources cites a measurement or an issue number (figures live in bench/README.md)', () => {
    const found = sources().flatMap((rel) => citations(rel, fs.readFileSync(path.join(ROOT, rel), 'utf8')));
    if (found.length) console.log(`comments citing a figure or an issue:\n  ${found.join('\n  ')}`);
    expect(found).toEqual([]);
  }, 120_000);
});
