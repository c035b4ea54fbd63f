/**
 * Reading dmsetup's `ls --tree -o ascii,notrunc[,inverted]` drawing in the live tests.
 * A top-level entry has no tree prefix (a nested one starts with spaces, then `|` or `` ` ``);
 * a non-dm device has no name in libdm's deptree, so dmsetup prints it as ` (7:0)`: a leading
 * space, no name. Its label here is '' (what DeviceTree's `block` nodes are labelled with).
 */
export function topLevelLabels(drawing: string): string[] {
  return drawing.split('\n').filter((l) => l !== '' && !/^ *[|`]/.test(l)).map((l) => l.replace(/ \(\d+:\d+\)$/, ''));
}
