/* Peak RSS of the calling program's own memory (VmHWM). ru_maxrss would include the Node
 * parent's size, which Linux carries over the fork + exec that started the baseline. */
#ifndef BENCH_HWM_H
#define BENCH_HWM_H
#include <stdio.h>

static long hwm_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kib = -1;
  while (f && fgets(line, sizeof line, f)) if (sscanf(line, "VmHWM: %ld kB", &kib) == 1) break;
  if (f) fclose(f);
  return kib;
}
#endif
