/**
 * dmsetup's report fields (libdm/dm-tools/dmsetup.c `_report_fields`, libdevmapper
 * 1.02.185) and libdm's help listing of them (`_display_fields`), byte for byte. The
 * order is dmsetup's: it is the order of `-o help`, of `-o <type>_all` and of `-o all`.
 * docs/dmctl.md, "Reports".
 */

/** The object a field is read from: dmsetup's report types (DR_TASK, DR_INFO, …). */
export type ReportType = 'task' | 'info' | 'deps' | 'tree' | 'name' | 'stats' | 'stats_meta' | 'special';

/** How a field's value is compared, sorted and aligned: string left, number and size right. */
export type FieldValueType = 'string' | 'number' | 'size';

/** One report field. */
export interface FieldDef {
  readonly type: ReportType;
  readonly valueType: FieldValueType;
  readonly heading: string;
  /** The initial column width (aligned output grows it to the longest value shown). */
  readonly width: number;
  readonly id: string;
  readonly desc: string;
  /** `help` and `?`: not usable in a selection. */
  readonly uncomparable?: boolean;
}

/** A report type: its help section title ("<desc> Fields") and its `-o <prefix>all` prefix. */
export interface ReportTypeDef { readonly type: ReportType; readonly desc: string; readonly prefix: string }

/** dmsetup's `_report_types`, in order. */
export const REPORT_TYPES: readonly ReportTypeDef[] = [
  { type: 'task', desc: 'Mapped Device Name', prefix: 'name_' },
  { type: 'info', desc: 'Mapped Device Information', prefix: 'info_' },
  { type: 'deps', desc: 'Mapped Device Relationship Information', prefix: 'deps_' },
  { type: 'tree', desc: 'Mapped Device Relationship Information', prefix: 'tree_' },
  { type: 'name', desc: 'Mapped Device Name Components', prefix: 'splitname_' },
  { type: 'stats', desc: 'Mapped Device Statistics', prefix: 'stats_' },
  { type: 'stats_meta', desc: 'Mapped Device Statistics Region Information', prefix: 'region_' },
];

/** libdm's implicit type of `selected`, `help` and `?`. */
export const SPECIAL_TYPE: ReportTypeDef = { type: 'special', desc: 'Special', prefix: 'special_' };

const f = (type: ReportType, valueType: FieldValueType, heading: string, width: number, id: string, desc: string): FieldDef =>
  ({ type, valueType, heading, width, id, desc });
const S = 'string', N = 'number', Z = 'size';

/** dmsetup's fields, in its table's order. */
export const FIELDS: readonly FieldDef[] = [
  f('task', S, 'Name', 16, 'name', 'Name of mapped device.'),
  f('task', S, 'MangledName', 16, 'mangled_name', 'Mangled name of mapped device.'),
  f('task', S, 'UnmangledName', 16, 'unmangled_name', 'Unmangled name of mapped device.'),
  f('task', S, 'UUID', 32, 'uuid', 'Unique (optional) identifier for mapped device.'),
  f('task', S, 'MangledUUID', 32, 'mangled_uuid', 'Mangled unique (optional) identifier for mapped device.'),
  f('task', S, 'UnmangledUUID', 32, 'unmangled_uuid', 'Unmangled unique (optional) identifier for mapped device.'),
  f('task', N, 'RAhead', 6, 'read_ahead', 'Read ahead value.'),
  f('info', S, 'BlkDevName', 16, 'blkdevname', 'Name of block device.'),
  f('info', S, 'Stat', 4, 'attr', '(L)ive, (I)nactive, (s)uspended, (r)ead-only, read-(w)rite.'),
  f('info', S, 'Tables', 6, 'tables_loaded', 'Which of the live and inactive table slots are filled.'),
  f('info', S, 'Suspended', 9, 'suspended', 'Whether the device is suspended.'),
  f('info', S, 'Read-only', 9, 'readonly', 'Whether the device is read-only or writeable.'),
  f('info', S, 'DevNo', 5, 'devno', 'Device major and minor numbers'),
  f('info', N, 'Maj', 3, 'major', 'Block device major number.'),
  f('info', N, 'Min', 3, 'minor', 'Block device minor number.'),
  f('info', N, 'Open', 4, 'open', 'Number of references to open device, if requested.'),
  f('info', N, 'Targ', 4, 'segments', 'Number of segments in live table, if present.'),
  f('info', N, 'Event', 6, 'events', 'Number of most recent event.'),
  f('deps', N, '#Devs', 5, 'device_count', 'Number of devices used by this one.'),
  f('tree', S, 'DevNamesUsed', 16, 'devs_used', 'List of names of mapped devices used by this one.'),
  f('deps', S, 'DevNosUsed', 16, 'devnos_used', 'List of device numbers of devices used by this one.'),
  f('deps', S, 'BlkDevNamesUsed', 16, 'blkdevs_used', 'List of names of block devices used by this one.'),
  f('tree', N, '#Refs', 5, 'device_ref_count', 'Number of mapped devices referencing this one.'),
  f('tree', S, 'RefNames', 8, 'names_using_dev', 'List of names of mapped devices using this one.'),
  f('tree', S, 'RefDevNos', 9, 'devnos_using_dev', 'List of device numbers of mapped devices using this one.'),
  f('name', S, 'Subsys', 6, 'subsystem', 'Userspace subsystem responsible for this device.'),
  f('name', S, 'VG', 4, 'vg_name', 'LVM Volume Group name.'),
  f('name', S, 'LV', 4, 'lv_name', 'LVM Logical Volume name.'),
  f('name', S, 'LVLayer', 7, 'lv_layer', 'LVM device layer.'),
  f('stats', N, '#Reads', 6, 'read_count', 'Count of reads completed.'),
  f('stats', N, '#RdMrgs', 7, 'reads_merged_count', 'Count of read requests merged.'),
  f('stats', N, '#RdSectors', 10, 'read_sector_count', 'Count of sectors read.'),
  f('stats', N, 'AccRdTime', 11, 'read_time', 'Accumulated duration of all read requests (ns).'),
  f('stats', N, '#Writes', 7, 'write_count', 'Count of writes completed.'),
  f('stats', N, '#WrMrgs', 7, 'writes_merged_count', 'Count of write requests merged.'),
  f('stats', N, '#WrSectors', 10, 'write_sector_count', 'Count of sectors written.'),
  f('stats', N, 'AccWrTime', 11, 'write_time', 'Accumulated duration of all writes (ns).'),
  f('stats', N, '#InProg', 7, 'in_progress_count', 'Count of requests currently in progress.'),
  f('stats', N, 'IoTicks', 7, 'io_ticks', 'Nanoseconds spent servicing requests.'),
  f('stats', N, 'QueueTicks', 10, 'queue_ticks', 'Total nanoseconds spent in queue.'),
  f('stats', N, 'RdTicks', 7, 'read_ticks', 'Nanoseconds spent servicing reads.'),
  f('stats', N, 'WrTicks', 7, 'write_ticks', 'Nanoseconds spent servicing writes.'),
  f('stats', N, 'RMrg/s', 6, 'reads_merged_per_sec', 'Read requests merged per second.'),
  f('stats', N, 'WMrg/s', 6, 'writes_merged_per_sec', 'Write requests merged per second.'),
  f('stats', N, 'R/s', 3, 'reads_per_sec', 'Reads per second.'),
  f('stats', N, 'W/s', 3, 'writes_per_sec', 'Writes per second.'),
  f('stats', N, 'RSz/s', 5, 'read_size_per_sec', 'Size of data read per second.'),
  f('stats', N, 'WSz/s', 5, 'write_size_per_sec', 'Size of data written per second.'),
  f('stats', N, 'AvgRqSz', 7, 'avg_request_size', 'Average request size.'),
  f('stats', N, 'QSize', 5, 'queue_size', 'Average queue size.'),
  // dmsetup's own spelling ("Averate"): the help text is compared byte for byte.
  f('stats', N, 'AWait', 5, 'await', 'Averate wait time.'),
  f('stats', N, 'RdAWait', 7, 'read_await', 'Averate read wait time.'),
  f('stats', N, 'WrAWait', 7, 'write_await', 'Averate write wait time.'),
  f('stats', N, 'Throughput', 10, 'throughput', 'Throughput.'),
  f('stats', N, 'SvcTm', 5, 'service_time', 'Service time.'),
  f('stats', N, 'Util%', 5, 'util', 'Utilization.'),
  f('stats', S, 'Histogram Counts', 16, 'hist_count', 'Latency histogram counts.'),
  f('stats', S, 'Histogram Counts', 16, 'hist_count_bounds', 'Latency histogram counts with bin boundaries.'),
  f('stats', S, 'Histogram Counts', 16, 'hist_count_ranges', 'Latency histogram counts with bin ranges.'),
  f('stats', S, 'Histogram%', 10, 'hist_percent', 'Relative latency histogram.'),
  f('stats', S, 'Histogram%', 10, 'hist_percent_bounds', 'Relative latency histogram with bin boundaries.'),
  f('stats', S, 'Histogram%', 10, 'hist_percent_ranges', 'Relative latency histogram with bin ranges.'),
  f('stats', N, 'IntervalNs', 10, 'interval_ns', 'Sampling interval in nanoseconds.'),
  f('stats', N, 'Interval', 8, 'interval', 'Sampling interval.'),
  f('stats_meta', N, 'RgID', 4, 'region_id', 'Region ID.'),
  f('stats_meta', Z, 'RgStart', 7, 'region_start', 'Region start.'),
  f('stats_meta', Z, 'RgSize', 6, 'region_len', 'Region length.'),
  f('stats_meta', N, 'ArID', 4, 'area_id', 'Area ID.'),
  f('stats_meta', Z, 'ArStart', 7, 'area_start', 'Area offset from start of device.'),
  f('stats_meta', Z, 'ArSize', 6, 'area_len', 'Area length.'),
  f('stats_meta', Z, 'ArOff', 5, 'area_offset', 'Area offset from start of region.'),
  f('stats_meta', N, '#Areas', 6, 'area_count', 'Area count.'),
  f('stats_meta', N, 'GrpID', 5, 'group_id', 'Group ID.'),
  f('stats_meta', S, 'ProgID', 6, 'program_id', 'Program ID.'),
  f('stats_meta', S, 'UserData', 8, 'user_data', 'Auxiliary data.'),
  f('stats_meta', S, 'Precise', 7, 'precise', 'Set if nanosecond precision counters are enabled.'),
  f('stats_meta', S, '#Bins', 9, 'hist_bins', 'The number of histogram bins configured.'),
  f('stats_meta', S, 'Histogram Bounds', 16, 'hist_bounds', 'Latency histogram bin boundaries.'),
  f('stats_meta', S, 'Histogram Ranges', 16, 'hist_ranges', 'Latency histogram bin ranges.'),
  f('stats_meta', S, 'Name', 16, 'stats_name', 'Stats name of current object.'),
  f('stats_meta', S, 'ObjType', 7, 'obj_type', 'Type of stats object being reported.'),
];

/** libdm's implicit fields with a selection (dmsetup always sets one up): `selected`, `help`, `?`. */
export const SPECIAL_FIELDS: readonly FieldDef[] = [
  f('special', N, 'Selected', 8, 'selected', 'Set if item passes selection criteria.'),
  { ...f('special', N, 'Help', 8, 'help', 'Show help.'), uncomparable: true },
  { ...f('special', N, 'Help', 8, '?', 'Show help.'), uncomparable: true },
];

/** The default `info -c` fields and `splitname`'s. */
export const DEFAULT_INFO_FIELDS = 'name,major,minor,attr,open,segments,events,uuid';
export const DEFAULT_SPLITNAME_FIELDS = 'vg_name,lv_name,lv_layer';

const typeDef = (t: ReportType): ReportTypeDef => (t === 'special' ? SPECIAL_TYPE : REPORT_TYPES.find((d) => d.type === t)!);

/**
 * libdm's `_display_fields`: every field by section, then the special ones, each line
 * "  <id padded> - <desc>", sections apart by a " " line. `allItems`: a "<prefix>all" line
 * first in each section (the `-o help` listing); `types`: " [string]" after each
 * description (the listing a selection error or `-S help` prints).
 */
export function fieldHelp(allItems: boolean, types: boolean): string {
  let idLen = Math.max(...FIELDS.map((x) => x.id.length), ...SPECIAL_FIELDS.map((x) => x.id.length), ...REPORT_TYPES.map((t) => t.prefix.length + 3));
  idLen = Math.max(idLen, SPECIAL_TYPE.prefix.length + 3);
  const section = (fields: readonly FieldDef[]): string => {
    let out = '';
    let last = '';
    for (const x of fields) {
      const t = typeDef(x.type);
      if (t.desc !== last) {
        if (last) out += ' \n';
        out += `${t.desc} Fields\n${'-'.repeat(t.desc.length + 7)}\n`;
        if (allItems && t.type !== 'special') out += `  ${t.prefix}all${''.padEnd(idLen - 3 - t.prefix.length)} - All fields in this section.\n`;
      }
      const kind = types ? ` [${x.uncomparable ? 'unselectable ' : ''}${x.valueType}]` : '';
      out += `  ${x.id.padEnd(idLen)} - ${x.desc}${kind}\n`;
      last = t.desc;
    }
    return out;
  };
  return section(FIELDS) + ' \n' + section(SPECIAL_FIELDS);
}
