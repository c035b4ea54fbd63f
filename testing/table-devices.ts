/**
 * The order in which the kernel lists a table's devices (DM_TABLE_DEPS, docs/kernel-facts.md
 * "The order of DM_TABLE_DEPS"): each target's constructor opens its devices with
 * dm_get_device(), which puts a device the table does not hold yet at the **head** of the
 * table's device list (list_add) and only counts a repeated one; retrieve_deps() walks that
 * list from the head. So the reply is newest first: the devices in the reverse order of
 * their first opening, over the targets in table order.
 *
 * `opened` is every device as the constructors opened them (table order, then each
 * constructor's own order, repeats included); `key` says when two entries are the same device.
 * Exported so that tests derive their expected orders from the same rule the simulator uses.
 */
export function tableDeviceOrder<T>(opened: Iterable<T>, key: (d: T) => unknown = (d) => d): T[] {
  const seen = new Set<unknown>();
  const list: T[] = [];
  for (const d of opened) {
    const k = key(d);
    if (seen.has(k)) continue; // dm_get_device() of a device the table holds: refcount only
    seen.add(k);
    list.unshift(d); // list_add(&dd->list, &t->devices)
  }
  return list;
}
