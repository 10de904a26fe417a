/* The sd-bus C peers of the broker and client benchmarks; the same binary
 * measures every bus. Modes (the bus address comes from the first argument):
 *   service ADDR [NAME]          owns NAME (default org.fastbus.Bench), /bench:
 *                                Echo(s)->s, EchoBytes(ay)->ay of org.fastbus.Bench
 *   rtt ADDR N                   N blocking Echo calls; prints "p50_us p99_us"
 *   paced ADDR N GAP_US          the same, sleeping GAP_US between calls
 *   pipeline ADDR N DEPTH        N Echo calls, DEPTH outstanding; prints "calls_per_s"
 *   client ADDR NAME ROUNDS CALLS DEPTH
 *                                3000 untimed then ROUNDS blocking Echo calls to NAME,
 *                                prints "pipeline", then CALLS calls with DEPTH
 *                                outstanding; prints one JSON line (p50, p99 in us,
 *                                callsPerSec, clientCpuUs: CPU per pipelined call)
 *   bytes ADDR SIZE N [WARM]     N blocking EchoBytes of SIZE bytes; prints "median_us"; with
 *                                WARM, WARM untimed calls of that size first, and prints
 *                                "median_us first_us" (first_us: the first of all calls)
 *   subscribe ADDR N             matches Tick signals, serves Echo at /bench; prints its unique
 *                                name and "ready", then "done NS" after N
 *   emit ADDR N [WARM NAME...]   emits WARM Tick(u) signals, calling Echo on each NAME after
 *                                each quarter (it returns once NAME has them all), then prints
 *                                "start NS", emits N Tick(u) signals, flushes
 * NS is CLOCK_MONOTONIC in nanoseconds (shared by all processes). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>
#include <systemd/sd-bus.h>

#define NAME "org.fastbus.Bench"
#define PATH "/bench"
#define IFACE "org.fastbus.Bench"

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, int r) {
  fprintf(stderr, "sdbus-peer: %s: %s\n", what, strerror(r < 0 ? -r : r));
  exit(1);
}

static sd_bus *open_bus(const char *address) {
  sd_bus *bus = NULL;
  int r = sd_bus_new(&bus);
  if (r < 0) die("sd_bus_new", r);
  if ((r = sd_bus_set_address(bus, address)) < 0) die("sd_bus_set_address", r);
  if ((r = sd_bus_set_bus_client(bus, 1)) < 0) die("sd_bus_set_bus_client", r);
  if ((r = sd_bus_negotiate_fds(bus, 1)) < 0) die("sd_bus_negotiate_fds", r);
  if ((r = sd_bus_start(bus)) < 0) die("sd_bus_start", r);
  return bus;
}

static int echo(sd_bus_message *m, void *userdata, sd_bus_error *error) {
  (void)userdata; (void)error;
  const char *s;
  int r = sd_bus_message_read(m, "s", &s);
  if (r < 0) return r;
  return sd_bus_reply_method_return(m, "s", s);
}

static int echo_bytes(sd_bus_message *m, void *userdata, sd_bus_error *error) {
  (void)userdata; (void)error;
  const void *p;
  size_t n;
  int r = sd_bus_message_read_array(m, 'y', &p, &n);
  if (r < 0) return r;
  sd_bus_message *reply = NULL;
  if ((r = sd_bus_message_new_method_return(m, &reply)) < 0) return r;
  if ((r = sd_bus_message_append_array(reply, 'y', p, n)) < 0) return r;
  r = sd_bus_send(NULL, reply, NULL);
  sd_bus_message_unref(reply);
  return r;
}

static const sd_bus_vtable vtable[] = {
  SD_BUS_VTABLE_START(0),
  SD_BUS_METHOD("Echo", "s", "s", echo, SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD("EchoBytes", "ay", "ay", echo_bytes, SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_SIGNAL("Tick", "u", 0),
  SD_BUS_VTABLE_END,
};

static void loop(sd_bus *bus) {
  for (;;) {
    int r = sd_bus_process(bus, NULL);
    if (r < 0) die("sd_bus_process", r);
    if (r > 0) continue;
    if ((r = sd_bus_wait(bus, UINT64_MAX)) < 0) die("sd_bus_wait", r);
  }
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static long outstanding, completed;
static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *error) {
  (void)userdata; (void)error;
  if (sd_bus_message_is_method_error(m, NULL)) die("async call failed", EIO);
  outstanding--;
  completed++;
  return 0;
}

static volatile long received, wanted;
static void report(int sig) {
  (void)sig;
  char buf[64];
  int n = snprintf(buf, sizeof buf, "got %ld\n", received);
  if (write(1, buf, (size_t)n) < 0) {}
  _exit(1);
}
static int on_tick(sd_bus_message *m, void *userdata, sd_bus_error *error) {
  (void)m; (void)userdata; (void)error;
  if (++received == wanted) {
    printf("done %llu\n", (unsigned long long)now_ns());
    fflush(stdout);
    exit(0);
  }
  return 0;
}

/* n blocking Echo calls to dest, gap_us of sleep after each; their times in ns,
 * sorted (the caller frees them). */
static uint64_t *round_trips(sd_bus *bus, const char *dest, long n, long gap_us) {
  struct timespec gap = { gap_us / 1000000, (gap_us % 1000000) * 1000 };
  uint64_t *t = calloc((size_t)n, sizeof *t);
  if (!t) die("calloc", -ENOMEM);
  for (long i = 0; i < n; i++) {
    sd_bus_error err = SD_BUS_ERROR_NULL;
    sd_bus_message *reply = NULL;
    uint64_t t0 = now_ns();
    int r = sd_bus_call_method(bus, dest, PATH, IFACE, "Echo", &err, &reply, "s", "0123456789abcdef");
    t[i] = now_ns() - t0;
    if (r < 0) die(err.message ? err.message : "Echo", r);
    sd_bus_message_unref(reply);
    if (gap_us > 0) nanosleep(&gap, NULL);
  }
  qsort(t, (size_t)n, sizeof *t, cmp_u64);
  return t;
}

/* n Echo calls to dest with depth outstanding; calls per second. */
static double pipelined(sd_bus *bus, const char *dest, long n, long depth) {
  long sent = 0;
  uint64_t t0 = now_ns();
  while (completed < n) {
    while (outstanding < depth && sent < n) {
      int r = sd_bus_call_method_async(bus, NULL, dest, PATH, IFACE, "Echo", on_reply, NULL, "s", "0123456789abcdef");
      if (r < 0) die("call_method_async", r);
      outstanding++;
      sent++;
    }
    int r = sd_bus_process(bus, NULL);
    if (r < 0) die("sd_bus_process", r);
    if (r == 0 && (r = sd_bus_wait(bus, UINT64_MAX)) < 0) die("sd_bus_wait", r);
  }
  return n / ((now_ns() - t0) / 1e9);
}

static double cpu_us(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec * 1e6 + u.ru_utime.tv_usec + u.ru_stime.tv_sec * 1e6 + u.ru_stime.tv_usec;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: sdbus-peer MODE ADDRESS [ARGS]\n");
    return 2;
  }
  const char *mode = argv[1];
  sd_bus *bus = open_bus(argv[2]);
  int r;
  if (strcmp(mode, "service") == 0) {
    if ((r = sd_bus_add_object_vtable(bus, NULL, PATH, IFACE, vtable, NULL)) < 0) die("add_object_vtable", r);
    if ((r = sd_bus_request_name(bus, argc >= 4 ? argv[3] : NAME, 0)) < 0) die("request_name", r);
    printf("ready\n");
    fflush(stdout);
    loop(bus);
  } else if ((strcmp(mode, "rtt") == 0 && argc >= 4) || (strcmp(mode, "paced") == 0 && argc >= 5)) {
    long n = atol(argv[3]);
    uint64_t *t = round_trips(bus, NAME, n, mode[0] == 'p' ? atol(argv[4]) : 0);
    printf("%.2f %.2f\n", t[n / 2] / 1e3, t[(n * 99) / 100] / 1e3);
  } else if (strcmp(mode, "pipeline") == 0 && argc >= 5) {
    printf("%.0f\n", pipelined(bus, NAME, atol(argv[3]), atol(argv[4])));
  } else if (strcmp(mode, "client") == 0 && argc >= 7) {
    long rounds = atol(argv[4]), calls = atol(argv[5]), depth = atol(argv[6]);
    free(round_trips(bus, argv[3], 3000, 0)); /* as WARMUP_CALLS in bench/client/peer-common.ts */
    uint64_t *t = round_trips(bus, argv[3], rounds, 0);
    // The harness samples the service's and the bus's CPU time between this line and the result.
    printf("pipeline\n");
    fflush(stdout);
    double c0 = cpu_us();
    double per_s = pipelined(bus, argv[3], calls, depth);
    printf("{\"p50\":%.2f,\"p99\":%.2f,\"callsPerSec\":%.1f,\"clientCpuUs\":%.2f}\n",
           t[rounds / 2] / 1e3, t[(rounds * 99) / 100] / 1e3, per_s, (cpu_us() - c0) / calls);
  } else if (strcmp(mode, "bytes") == 0 && argc >= 5) {
    size_t size = (size_t)atol(argv[3]);
    long n = atol(argv[4]);
    long warm = argc >= 6 ? atol(argv[5]) : 0;
    uint8_t *payload = malloc(size);
    memset(payload, 0x5a, size);
    uint64_t *t = calloc((size_t)(n + warm), sizeof *t);
    for (long i = 0; i < n + warm; i++) {
      sd_bus_message *call = NULL, *reply = NULL;
      sd_bus_error err = SD_BUS_ERROR_NULL;
      if ((r = sd_bus_message_new_method_call(bus, &call, NAME, PATH, IFACE, "EchoBytes")) < 0) die("new_method_call", r);
      if ((r = sd_bus_message_append_array(call, 'y', payload, size)) < 0) die("append_array", r);
      uint64_t t0 = now_ns();
      r = sd_bus_call(bus, call, 60 * 1000000ull, &err, &reply);
      t[i] = now_ns() - t0;
      if (r < 0) die(err.message ? err.message : "EchoBytes", r);
      const void *p;
      size_t got;
      if ((r = sd_bus_message_read_array(reply, 'y', &p, &got)) < 0 || got != size) die("reply size", r < 0 ? r : EIO);
      sd_bus_message_unref(call);
      sd_bus_message_unref(reply);
    }
    uint64_t first = t[0];
    qsort(t + warm, (size_t)n, sizeof *t, cmp_u64);
    if (warm > 0) printf("%.2f %.2f\n", t[warm + n / 2] / 1e3, first / 1e3);
    else printf("%.2f\n", t[n / 2] / 1e3);
  } else if (strcmp(mode, "subscribe") == 0 && argc >= 4) {
    wanted = atol(argv[3]);
    signal(SIGTERM, report);
    if ((r = sd_bus_match_signal(bus, NULL, NULL, PATH, IFACE, "Tick", on_tick, NULL)) < 0) die("match_signal", r);
    if ((r = sd_bus_add_object_vtable(bus, NULL, PATH, IFACE, vtable, NULL)) < 0) die("add_object_vtable", r);
    const char *unique;
    if ((r = sd_bus_get_unique_name(bus, &unique)) < 0) die("get_unique_name", r);
    printf("%s ready\n", unique);
    fflush(stdout);
    loop(bus);
  } else if (strcmp(mode, "emit") == 0 && argc >= 4) {
    long n = atol(argv[3]), warm = argc >= 5 ? atol(argv[4]) : 0;
    for (long i = 0; i < warm + n; i++) {
      if (warm > 0 && i > 0 && i <= warm && i % (warm / 4 > 0 ? warm / 4 : 1) == 0) {
        if ((r = sd_bus_flush(bus)) < 0) die("flush", r);
        /* A call behind the signals returns once the subscriber has handled them all. */
        for (int k = 5; k < argc; k++) {
          sd_bus_error err = SD_BUS_ERROR_NULL;
          sd_bus_message *reply = NULL;
          if ((r = sd_bus_call_method(bus, argv[k], PATH, IFACE, "Echo", &err, &reply, "s", "warm")) < 0) die(err.message ? err.message : "Echo", r);
          sd_bus_message_unref(reply);
        }
      }
      if (i == warm) {
        printf("start %llu\n", (unsigned long long)now_ns());
        fflush(stdout);
      }
      if ((r = sd_bus_emit_signal(bus, PATH, IFACE, "Tick", "u", (uint32_t)i)) < 0) die("emit_signal", r);
      if ((i & 1023) == 1023 && (r = sd_bus_flush(bus)) < 0) die("flush", r);
    }
    if ((r = sd_bus_flush(bus)) < 0) die("flush", r);
  } else {
    fprintf(stderr, "sdbus-peer: bad mode or arguments\n");
    return 2;
  }
  sd_bus_flush_close_unref(bus);
  return 0;
}
