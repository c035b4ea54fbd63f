/*
 * rusage CMD [ARGS...]: runs CMD with stdout to /dev/null and prints one JSON line with its
 * wall time and peak RSS (wait4). Used by bench/live.bench.ts to measure `dmsetup ls` /
 * `dmsetup status` without counting Node's own spawn and output capture.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: rusage CMD [ARGS...]\n"); return 2; }
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    execvp(argv[1], argv + 1);
    perror(argv[1]);
    _exit(127);
  }
  int status;
  struct rusage ru;
  if (wait4(pid, &status, 0, &ru) < 0) { perror("wait4"); return 1; }
  clock_gettime(CLOCK_MONOTONIC, &b);
  double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
  printf("{\"ns\":%.0f,\"maxrss_kib\":%ld,\"status\":%d}\n", ns, ru.ru_maxrss, WIFEXITED(status) ? WEXITSTATUS(status) : 128);
  return 0;
}
