/* The kernel's own process_vm_readv speed, one sample per run, for the cma
 * and channel benchmarks. Prints GB/s (10^9 bytes per second).
 *   vm-readv PID ADDRESS SIZE TOTAL_BYTES  reads SIZE bytes at ADDRESS in PID,
 *                                          TOTAL_BYTES in all (the same buffer
 *                                          fastbus reads)
 *   vm-readv hold SIZE                     fills a buffer, prints "PID ADDRESS",
 *                                          and waits to be read until killed
 *   vm-readv pair SIZE REPEAT              forks a child holding SIZE bytes and
 *                                          reads them REPEAT times, parent on
 *                                          CPU 0 and child on CPU 1 */
#define _GNU_SOURCE
#include <sched.h>
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

static void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu % sysconf(_SC_NPROCESSORS_ONLN), &set);
  sched_setaffinity(0, sizeof set, &set);
}

/* One untimed read into a warm local buffer, then `iterations` timed ones. */
static int measure(pid_t pid, void *remote, size_t size, size_t iterations) {
  char *local = malloc(size);
  if (!local) return 1;
  memset(local, 0, size);
  struct iovec l = { local, size }, r = { remote, size };
  if (process_vm_readv(pid, &l, 1, &r, 1, 0) != (ssize_t)size) { perror("process_vm_readv"); return 1; }
  double t0 = now();
  for (size_t i = 0; i < iterations; i++) {
    if (process_vm_readv(pid, &l, 1, &r, 1, 0) != (ssize_t)size) { perror("process_vm_readv"); return 1; }
  }
  printf("%.4f\n", (double)size * iterations / (now() - t0) / 1e9);
  return 0;
}

static char *filled(size_t size, int value) {
  char *buffer = malloc(size);
  if (buffer) memset(buffer, value, size);
  return buffer;
}

static int pair(size_t size, size_t repeat) {
  int up[2], down[2];
  if (pipe(up) || pipe(down)) return 1;
  pid_t child = fork();
  if (child == 0) {
    pin(1);
    char *theirs = filled(size, 7);
    uintptr_t address = (uintptr_t)theirs;
    if (!theirs || write(up[1], &address, sizeof address) != sizeof address) _exit(1);
    char c;
    if (read(down[0], &c, 1) < 0) _exit(1); /* alive until the parent is done */
    _exit(0);
  }
  pin(0);
  uintptr_t address;
  if (read(up[0], &address, sizeof address) != sizeof address) return 1;
  int r = measure(child, (void *)address, size, repeat);
  if (write(down[1], "x", 1) != 1) return 1;
  waitpid(child, NULL, 0);
  return r;
}

int main(int argc, char **argv) {
  if (argc == 5) {
    size_t size = strtoull(argv[3], NULL, 10), total = strtoull(argv[4], NULL, 10);
    return measure(atoi(argv[1]), (void *)(uintptr_t)strtoull(argv[2], NULL, 10), size, total / size < 1 ? 1 : total / size);
  }
  if (argc == 4 && strcmp(argv[1], "pair") == 0) return pair(strtoull(argv[2], NULL, 10), strtoull(argv[3], NULL, 10));
  if (argc != 3 || strcmp(argv[1], "hold") != 0) return 2;
  char *buffer = filled(strtoull(argv[2], NULL, 10), 0x5a);
  if (!buffer) return 1;
  printf("%d %llu\n", (int)getpid(), (unsigned long long)(uintptr_t)buffer);
  fflush(stdout);
  pause();
  return 0;
}
