/**
 * What a reply's header says about the device a command acted on: a fact of the kernel's
 * dm-ioctl.c, read by the identity checks of lib/operations/identity.ts (docs/identity.md).
 */

/**
 * Which header fields of a successful reply the kernel wrote for the device it acted on
 * (docs/identity.md, from drivers/md/dm-ioctl.c of 4.47/4.48): a lookup
 * (`__find_device_hash_cell`) writes name and uuid, `__dev_status` writes dev. DEV_CREATE
 * only echoes the name and uuid we sent; DEV_REMOVE never calls `__dev_status`, so dev is
 * our request's; DEV_RENAME looks up by name without writing anything back, so name and
 * uuid are the request's (the old name) and only dev is the device's.
 */
export const TRUSTED_REPLY_FIELDS = {
  create: { name: false, uuid: false, dev: true },
  info: { name: true, uuid: true, dev: true },
  status: { name: true, uuid: true, dev: true },
  table: { name: true, uuid: true, dev: true },
  load: { name: true, uuid: true, dev: true },
  suspend: { name: true, uuid: true, dev: true },
  resume: { name: true, uuid: true, dev: true },
  clear: { name: true, uuid: true, dev: true },
  remove: { name: true, uuid: true, dev: false },
  rename: { name: false, uuid: false, dev: true },
} as const satisfies Record<string, { name: boolean; uuid: boolean; dev: boolean }>;
