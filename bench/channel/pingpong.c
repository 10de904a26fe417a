/* The round-trip limits a channel is measured against: two processes on two
 * different CPUs bounce a token, either each blocked on an eventfd (as a
 * sleeping channel is woken) or each spinning on a shared cache line (as a
 * busy channel polls), or each waiting in epoll and then reading its eventfd
 * (as Node's event loop waits: a zero-timeout epoll_wait first, which libuv
 * makes to measure idle time, then a blocking one). Prints the median and p99
 * round trip in microseconds.
 * usage: pingpong eventfd|busy|epoll ITERATIONS */
#define _GNU_SOURCE
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu % sysconf(_SC_NPROCESSORS_ONLN), &set);
  sched_setaffinity(0, sizeof set, &set);
}

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Waits as libuv does in Node: epoll_wait(0), then epoll_wait(-1), then read(). */
static int wait_epoll(int ep, int fd) {
  struct epoll_event ev;
  if (epoll_wait(ep, &ev, 1, 0) == 0 && epoll_wait(ep, &ev, 1, -1) != 1) return -1;
  uint64_t v;
  return read(fd, &v, 8) == 8 ? 0 : -1;
}

static int watch(int fd) {
  int ep = epoll_create1(0);
  struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
  epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  return ep;
}

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: pingpong eventfd|busy|epoll ITERATIONS\n"); return 2; }
  int busy = strcmp(argv[1], "busy") == 0;
  int epoll = strcmp(argv[1], "epoll") == 0;
  long n = atol(argv[2]);
  int ping = eventfd(0, 0), pong = eventfd(0, 0);
  volatile uint64_t *line = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  volatile uint64_t *back = line + 16; /* another cache line */
  double *rtt = malloc(sizeof(double) * n);
  pid_t child = fork();
  if (child == 0) {
    pin(1);
    int ep = epoll ? watch(ping) : -1;
    uint64_t v;
    for (long i = 1; i <= n + 100; i++) {
      if (busy) {
        while (*line != (uint64_t)i) __builtin_ia32_pause();
        *back = i;
      } else if (epoll) {
        if (wait_epoll(ep, ping) != 0) _exit(1);
        v = 1;
        if (write(pong, &v, 8) != 8) _exit(1);
      } else {
        if (read(ping, &v, 8) != 8) _exit(1);
        v = 1;
        if (write(pong, &v, 8) != 8) _exit(1);
      }
    }
    _exit(0);
  }
  pin(0);
  int ep = epoll ? watch(pong) : -1;
  uint64_t v = 1;
  for (long i = 1; i <= n + 100; i++) {
    double t0 = now_us();
    if (busy) {
      *line = i;
      while (*back != (uint64_t)i) __builtin_ia32_pause();
    } else if (epoll) {
      v = 1;
      if (write(ping, &v, 8) != 8) return 1;
      if (wait_epoll(ep, pong) != 0) return 1;
    } else {
      if (write(ping, &v, 8) != 8) return 1;
      if (read(pong, &v, 8) != 8) return 1;
    }
    if (i > 100) rtt[i - 101] = now_us() - t0; /* the first 100 warm up */
  }
  waitpid(child, NULL, 0);
  qsort(rtt, n, sizeof(double), cmp);
  printf("%.3f %.3f\n", rtt[n / 2], rtt[(long)(n * 0.99)]);
  return 0;
}
