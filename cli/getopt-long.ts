/**
 * glibc's getopt_long, as thin-provisioning-tools' commands parse their argv: options and
 * operands in any order (argv is permuted), `--` ends options, a long option may be any
 * unambiguous prefix (`--no-h`), `--opt=value` or `--opt value` for a required argument and
 * only `--opt=value` / `-ovalue` for an optional one; its error lines are glibc's.
 */

/** One long option: its name, whether it takes an argument, and the key it reports. */
export interface LongOption {
  readonly name: string;
  readonly arg: 'none' | 'required' | 'optional';
  readonly key: string;
}

/** What getopt_long saw: the options in order and the operands. */
export interface GetoptResult {
  readonly options: readonly { readonly key: string; readonly value: string | undefined }[];
  readonly operands: readonly string[];
}

/**
 * Parses `argv` as getopt_long with `shortopts` (`"ho:m::V"`: `:` a required argument, `::`
 * an optional one) and `longopts`; `{ error }` is glibc's message line (without the newline).
 */
export function getoptLong(program: string, argv: readonly string[], shortopts: string, longopts: readonly LongOption[]): GetoptResult | { readonly error: string } {
  const options: { key: string; value: string | undefined }[] = [];
  const operands: string[] = [];
  const shortArg = (c: string): 'none' | 'required' | 'optional' | undefined => {
    const i = shortopts.indexOf(c);
    if (i < 0 || c === ':') return undefined;
    if (shortopts[i + 1] !== ':') return 'none';
    return shortopts[i + 2] === ':' ? 'optional' : 'required';
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      operands.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      const exact = longopts.find((o) => o.name === name);
      const matches = exact ? [exact] : longopts.filter((o) => o.name.startsWith(name));
      // Several names for one key and argument kind are not ambiguous (glibc compares them).
      const distinct = matches.filter((o, k) => matches.findIndex((p) => p.key === o.key && p.arg === o.arg) === k);
      if (matches.length === 0) return { error: `${program}: unrecognized option '--${name}'` };
      if (distinct.length > 1) return { error: `${program}: option '--${name}' is ambiguous; possibilities:${matches.map((o) => ` '--${o.name}'`).join('')}` };
      const o = matches[0]!;
      if (o.arg === 'none') {
        if (eq >= 0) return { error: `${program}: option '--${o.name}' doesn't allow an argument` };
        options.push({ key: o.key, value: undefined });
      } else if (eq >= 0) {
        options.push({ key: o.key, value: a.slice(eq + 1) });
      } else if (o.arg === 'required') {
        if (i + 1 >= argv.length) return { error: `${program}: option '--${o.name}' requires an argument` };
        options.push({ key: o.key, value: argv[++i]! });
      } else {
        options.push({ key: o.key, value: undefined });
      }
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        const c = a[j]!;
        const kind = shortArg(c);
        if (kind === undefined) return { error: `${program}: invalid option -- '${c}'` };
        if (kind === 'none') {
          options.push({ key: c, value: undefined });
          continue;
        }
        const rest = a.slice(j + 1);
        if (rest !== '') options.push({ key: c, value: rest });
        else if (kind === 'required') {
          if (i + 1 >= argv.length) return { error: `${program}: option requires an argument -- '${c}'` };
          options.push({ key: c, value: argv[++i]! });
        } else options.push({ key: c, value: undefined });
        break;
      }
      continue;
    }
    operands.push(a);
  }
  return { options, operands };
}
