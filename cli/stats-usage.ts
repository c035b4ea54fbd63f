/** `dmctl stats`'s usage line: its own module, so dmctl's help lists it without loading stats.ts. */
export const STATS_USAGE = 'stats create|delete|clear|list|print|report|group|ungroup|update_filemap [<device>|<file>] [dmstats options]';
