/* The kernel's own process_vm_readv speed, one sample per run.
 *   vm-readv PID ADDRESS SIZE TOTAL_BYTES  reads SIZE bytes at ADDRESS in PID
 *                                          (the same buffer fastbus reads)
 *   vm-readv hold SIZE                     fills a buffer, prints "PID ADDRESS",
 *                                          and waits to be read until killed
 * Prints GB/s (10^9 bytes per second) of TOTAL_BYTES moved SIZE at a time. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static int measure(pid_t pid, void *remote, size_t size, size_t total) {
  char *local = malloc(size);
  if (!local) return 1;
  memset(local, 0, size);
  size_t iterations = total / size < 1 ? 1 : total / size;
  struct iovec l = { local, size }, r = { remote, size };
  if (process_vm_readv(pid, &l, 1, &r, 1, 0) != (ssize_t)size) { perror("process_vm_readv"); return 1; }
  double t0 = now();
  for (size_t i = 0; i < iterations; i++) {
    if (process_vm_readv(pid, &l, 1, &r, 1, 0) != (ssize_t)size) { perror("process_vm_readv"); return 1; }
  }
  printf("%.4f\n", (double)size * iterations / (now() - t0) / 1e9);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 5) {
    return measure(atoi(argv[1]), (void *)(uintptr_t)strtoull(argv[2], NULL, 10),
                   strtoull(argv[3], NULL, 10), strtoull(argv[4], NULL, 10));
  }
  if (argc != 3 || strcmp(argv[1], "hold") != 0) return 2;
  size_t size = strtoull(argv[2], NULL, 10);
  char *buffer = malloc(size);
  if (!buffer) return 1;
  memset(buffer, 0x5a, size);
  printf("%d %llu\n", (int)getpid(), (unsigned long long)(uintptr_t)buffer);
  fflush(stdout);
  pause();
  return 0;
}
