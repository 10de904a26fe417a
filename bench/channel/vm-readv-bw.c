/* The bandwidth limit of a large-payload transfer: a parent pulls SIZE bytes
 * from a child's buffer with process_vm_readv into its own (warm) buffer,
 * REPEAT times, on two different CPUs. Prints GB/s.
 * usage: vm-readv-bw SIZE REPEAT */
#define _GNU_SOURCE
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu % sysconf(_SC_NPROCESSORS_ONLN), &set);
  sched_setaffinity(0, sizeof set, &set);
}

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: vm-readv-bw SIZE REPEAT\n"); return 2; }
  size_t size = strtoull(argv[1], NULL, 10);
  long repeat = atol(argv[2]);
  int up[2], down[2];
  if (pipe(up) || pipe(down)) return 1;
  char *theirs = malloc(size);
  char *mine = malloc(size);
  memset(mine, 0, size);
  pid_t child = fork();
  if (child == 0) {
    pin(1);
    memset(theirs, 7, size);
    uintptr_t address = (uintptr_t)theirs;
    if (write(up[1], &address, sizeof address) != sizeof address) _exit(1);
    char c;
    if (read(down[0], &c, 1) < 0) _exit(1); /* stay alive until the parent is done */
    _exit(0);
  }
  pin(0);
  uintptr_t address;
  if (read(up[0], &address, sizeof address) != sizeof address) return 1;
  struct iovec local = { mine, size }, remote = { (void *)address, size };
  if (process_vm_readv(child, &local, 1, &remote, 1, 0) != (ssize_t)size) { perror("process_vm_readv"); return 1; }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long i = 0; i < repeat; i++) {
    if (process_vm_readv(child, &local, 1, &remote, 1, 0) != (ssize_t)size) { perror("process_vm_readv"); return 1; }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  if (write(down[1], "x", 1) != 1) return 1;
  waitpid(child, NULL, 0);
  double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
  printf("%.3f\n", (double)size * repeat / ns);
  return 0;
}
