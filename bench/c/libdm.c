/*
 * libdevmapper (Debian's libdevmapper-dev, dm_task_create + dm_task_run + dm_task_destroy per
 * call, as LVM and other C users do) for bench/live.bench.ts.
 *
 *   libdm version|info|table NAME N      N tasks of DM_DEVICE_VERSION / DM_DEVICE_INFO /
 *                                        DM_DEVICE_TABLE (secure data, targets walked)
 *   libdm cycle LOOPDEV SECTORS N PREFIX N life cycles: create, load (reload) a linear table on
 *                                        LOOPDEV, resume, info, remove — timed per step
 *   libdm create_many PREFIX N           N devices PREFIX-0 … created one after another (create,
 *                                        load a zero table of 8 sectors, resume), as a loop over
 *                                        libdevmapper does; total time
 *   libdm remove_many PREFIX N           removes them again, one after another; total time
 *
 * udev synchronisation is off (the VM has no udev; DM_DISABLE_UDEV=1 makes libdevmapper
 * manage /dev/mapper nodes itself, as it does on such systems). Prints one JSON line.
 */
#include <libdevmapper.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include "hwm.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

static void quiet(int level, const char *file, int line, int dm_errno, const char *f, ...) {
  (void)file; (void)line; (void)dm_errno; (void)f;
  if (level <= 3) { /* _LOG_ERR */
    va_list ap; va_start(ap, f); vfprintf(stderr, f, ap); va_end(ap); fputc('\n', stderr);
  }
}


static void run(struct dm_task *t, const char *what) {
  if (!t || !dm_task_run(t)) { fprintf(stderr, "libdm: %s failed\n", what); exit(1); }
}

static int task(int type, const char *name, const char *loop, uint64_t sectors) {
  struct dm_task *t = dm_task_create(type);
  if (!t) { fprintf(stderr, "dm_task_create\n"); exit(1); }
  if (name && !dm_task_set_name(t, name)) exit(1);
  if (type == DM_DEVICE_TABLE) dm_task_secure_data(t);
  if (type == DM_DEVICE_RELOAD && loop) {
    char params[256];
    snprintf(params, sizeof params, "%s 0", loop);
    if (!dm_task_add_target(t, 0, sectors, "linear", params)) exit(1);
  } else if (type == DM_DEVICE_RELOAD) {
    if (!dm_task_add_target(t, 0, sectors, "zero", "")) exit(1);
  }
  run(t, name ? name : "version");
  int r = 0;
  if (type == DM_DEVICE_INFO) {
    struct dm_info info;
    if (!dm_task_get_info(t, &info) || !info.exists) { fprintf(stderr, "info: missing\n"); exit(1); }
    r = info.minor;
  } else if (type == DM_DEVICE_TABLE) {
    void *next = NULL;
    uint64_t start, length;
    char *ttype, *params;
    do { next = dm_get_next_target(t, next, &start, &length, &ttype, &params); r++; } while (next);
  } else if (type == DM_DEVICE_VERSION) {
    char v[64];
    dm_task_get_driver_version(t, v, sizeof v);
    r = v[0];
  }
  dm_task_destroy(t);
  return r;
}

int main(int argc, char **argv) {
  dm_log_with_errno_init(quiet);
  dm_udev_set_sync_support(0);
  if (argc < 4) { fprintf(stderr, "usage: libdm version|info|table NAME N | cycle LOOPDEV SECTORS N PREFIX\n"); return 2; }
  const char *mode = argv[1];

  if (!strcmp(mode, "cycle")) {
    const char *loop = argv[2];
    uint64_t sectors = strtoull(argv[3], NULL, 0);
    long n = atol(argv[4]);
    const char *prefix = argc > 5 ? argv[5] : "bench-libdm";
    static const int types[5] = { DM_DEVICE_CREATE, DM_DEVICE_RELOAD, DM_DEVICE_RESUME, DM_DEVICE_INFO, DM_DEVICE_REMOVE };
    double *ns = calloc(5 * (size_t)n, sizeof *ns);
    char name[128];
    for (long i = -1; i < n; i++) { /* one untimed warm-up cycle */
      snprintf(name, sizeof name, "%s-%ld", prefix, i + 1);
      for (int s = 0; s < 5; s++) {
        double t0 = now_ns();
        task(types[s], name, loop, sectors);
        if (i >= 0) ns[s * n + i] = now_ns() - t0;
      }
    }
    dm_lib_release();
    printf("{\"mode\":\"cycle\",\"n\":%ld,\"steps\":{", n);
    static const char *names[5] = { "create", "load", "resume", "info", "remove" };
    for (int s = 0; s < 5; s++) {
      printf("%s\"%s\":[", s ? "," : "", names[s]);
      for (long i = 0; i < n; i++) printf("%s%.0f", i ? "," : "", ns[s * n + i]);
      printf("]");
    }
    printf("},\"maxrss_kib\":%ld}\n", hwm_kib());
    return 0;
  }

  if (!strcmp(mode, "create_many") || !strcmp(mode, "remove_many")) {
    const char *prefix = argv[2];
    long n = atol(argv[3]);
    int create = !strcmp(mode, "create_many");
    char name[128];
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
      snprintf(name, sizeof name, "%s-%ld", prefix, i);
      if (create) {
        task(DM_DEVICE_CREATE, name, NULL, 8);
        task(DM_DEVICE_RELOAD, name, NULL, 8);
        task(DM_DEVICE_RESUME, name, NULL, 8);
      } else {
        task(DM_DEVICE_REMOVE, name, NULL, 0);
      }
    }
    double total = now_ns() - t0;
    dm_lib_release();
    printf("{\"mode\":\"%s\",\"n\":%ld,\"total_ns\":%.0f,\"maxrss_kib\":%ld}\n", mode, n, total, hwm_kib());
    return 0;
  }

  const char *name = argv[2];
  long n = atol(argv[3]);
  int type;
  if (!strcmp(mode, "version")) { type = DM_DEVICE_VERSION; name = NULL; }
  else if (!strcmp(mode, "info")) type = DM_DEVICE_INFO;
  else if (!strcmp(mode, "table")) type = DM_DEVICE_TABLE;
  else { fprintf(stderr, "unknown mode %s\n", mode); return 2; }
  long warm = n / 10 > 0 ? n / 10 : 1;
  double t0 = 0;
  volatile int sink = 0;
  for (long i = -warm; i < n; i++) {
    if (i == 0) t0 = now_ns();
    sink += task(type, name, NULL, 0);
  }
  double per = (now_ns() - t0) / n;
  dm_lib_release();
  printf("{\"mode\":\"%s\",\"ns_per_op\":%.0f,\"n\":%ld,\"maxrss_kib\":%ld}\n", mode, per, n, hwm_kib());
  return 0;
}
