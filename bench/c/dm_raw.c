/*
 * Raw device-mapper ioctls, no library: the C floor for bench/live.bench.ts.
 *
 *   dm_raw version|status|table NAME N   N calls of DM_VERSION / DM_DEV_STATUS / DM_TABLE_STATUS
 *                                        with the request the library sends (table:
 *                                        DM_STATUS_TABLE_FLAG|DM_SECURE_DATA_FLAG in 16 KiB, the
 *                                        others the bare 312-byte header), header restored each call
 *   dm_raw list BUFSIZE N                N calls of DM_LIST_DEVICES (DM_UUID_FLAG) with a BUFSIZE
 *                                        buffer (doubled on DM_BUFFER_FULL_FLAG: the count is printed)
 *   dm_raw statusall BUFSIZE N           N times: one LIST, then DM_TABLE_STATUS of every device by dev
 *
 * Prints one JSON line: ns per operation (after a warm-up of N/10), ioctls issued, peak RSS.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/dm-ioctl.h>
#include <stdint.h>
#include <stdio.h>
#include "hwm.h"
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static int fd;
static long ioctls, list_ioctls;

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

static void header(struct dm_ioctl *h, size_t size, uint32_t flags, const char *name) {
  memset(h, 0, sizeof *h);
  h->version[0] = 4;
  h->data_size = size;
  h->data_start = sizeof *h;
  h->flags = flags;
  if (name) strncpy(h->name, name, sizeof h->name - 1);
}

static void xioctl(unsigned long req, void *buf) {
  ioctls++;
  if (ioctl(fd, req, buf) != 0) { fprintf(stderr, "ioctl %#lx: %s\n", req, strerror(errno)); exit(1); }
}


/* One LIST into *buf (grown and kept on BUFFER_FULL); returns the reply. */
static struct dm_ioctl *list(unsigned char **buf, size_t *size) {
  for (;;) {
    struct dm_ioctl *h = (struct dm_ioctl *)*buf;
    header(h, *size, DM_UUID_FLAG, NULL);
    list_ioctls++;
    xioctl(DM_LIST_DEVICES, h);
    if (!(h->flags & DM_BUFFER_FULL_FLAG)) return h;
    *size *= 2;
    free(*buf);
    *buf = calloc(1, *size);
  }
}

int main(int argc, char **argv) {
  if (argc < 4) { fprintf(stderr, "usage: dm_raw version|status|table NAME N | list|statusall BUFSIZE N\n"); return 2; }
  const char *mode = argv[1];
  long n = atol(argv[3]);
  fd = open("/dev/mapper/control", O_RDWR | O_CLOEXEC);
  if (fd < 0) { perror("open /dev/mapper/control"); return 1; }

  if (!strcmp(mode, "list") || !strcmp(mode, "statusall")) {
    size_t size = strtoul(argv[2], NULL, 0);
    unsigned char *buf = calloc(1, size);
    unsigned char *sbuf = calloc(1, 16384);
    int all = !strcmp(mode, "statusall");
    long devices = 0, first_ioctls = 0, statuses = 0, list_at0 = 0;
    double t0 = 0;
    long warm = n / 10 > 0 ? n / 10 : 1;
    for (long i = -warm; i < n; i++) {
      if (i == 0) { t0 = now_ns(); list_at0 = list_ioctls; statuses = 0; }
      long before = list_ioctls;
      struct dm_ioctl *h = list(&buf, &size);
      if (i == -warm) first_ioctls = list_ioctls - before;
      devices = 0;
      if (h->data_size > h->data_start) {
        struct dm_name_list *nl = (struct dm_name_list *)((char *)h + h->data_start);
        for (;;) {
          devices++;
          if (all) {
            struct dm_ioctl *s = (struct dm_ioctl *)sbuf;
            header(s, 16384, 0, NULL);
            s->dev = nl->dev;
            xioctl(DM_TABLE_STATUS, s);
            statuses++;
          }
          if (!nl->next) break;
          nl = (struct dm_name_list *)((char *)nl + nl->next);
        }
      }
    }
    double per = (now_ns() - t0) / n;
    printf("{\"mode\":\"%s\",\"ns_per_op\":%.0f,\"n\":%ld,\"devices\":%ld,\"buffer\":%zu,\"first_ioctls\":%ld,"
           "\"list_ioctls_per_op\":%.3f,\"status_ioctls_per_op\":%.1f,\"maxrss_kib\":%ld}\n",
           mode, per, n, devices, size, first_ioctls, (double)(list_ioctls - list_at0) / n, (double)statuses / n, hwm_kib());
    return 0;
  }

  const char *name = argv[2];
  unsigned long req;
  uint32_t flags = 0;
  if (!strcmp(mode, "version")) req = DM_VERSION;
  else if (!strcmp(mode, "status")) req = DM_DEV_STATUS;
  else if (!strcmp(mode, "table")) { req = DM_TABLE_STATUS; flags = DM_STATUS_TABLE_FLAG | DM_SECURE_DATA_FLAG; }
  else { fprintf(stderr, "unknown mode %s\n", mode); return 2; }
  /* data_size as the library sends it: the bare header unless the reply has a payload */
  size_t size = req == DM_TABLE_STATUS ? 16384 : sizeof(struct dm_ioctl);
  unsigned char *buf = calloc(1, size);
  struct dm_ioctl tmpl;
  header(&tmpl, size, flags, req == DM_VERSION ? NULL : name);
  long warm = n / 10 > 0 ? n / 10 : 1;
  double t0 = 0;
  for (long i = -warm; i < n; i++) {
    if (i == 0) t0 = now_ns();
    memcpy(buf, &tmpl, sizeof tmpl);
    xioctl(req, buf);
  }
  double per = (now_ns() - t0) / n;
  printf("{\"mode\":\"%s\",\"ns_per_op\":%.0f,\"n\":%ld,\"maxrss_kib\":%ld}\n", mode, per, n, hwm_kib());
  return 0;
}
