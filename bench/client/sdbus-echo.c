/* The sd-bus C pair of the client benchmark: `service ADDRESS NAME` exports
 * com.example.Bench.Echo(s) -> s at /bench; `client ADDRESS NAME ROUNDS CALLS
 * DEPTH` measures ROUNDS blocking round trips (p50/p99 in us) then CALLS
 * calls with DEPTH outstanding, and prints one JSON line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <systemd/sd-bus.h>

static const char *PAYLOAD = "0123456789abcdef";

static int die(const char *what, int r) {
  fprintf(stderr, "sdbus-echo: %s: %s\n", what, strerror(-r));
  exit(1);
}

static sd_bus *open_bus(const char *address) {
  sd_bus *bus = NULL;
  int r = sd_bus_new(&bus);
  if (r < 0) die("sd_bus_new", r);
  if ((r = sd_bus_set_address(bus, address)) < 0) die("sd_bus_set_address", r);
  if ((r = sd_bus_set_bus_client(bus, 1)) < 0) die("sd_bus_set_bus_client", r);
  if ((r = sd_bus_start(bus)) < 0) die("sd_bus_start", r);
  return bus;
}

static int echo(sd_bus_message *m, void *userdata, sd_bus_error *error) {
  const char *s;
  int r = sd_bus_message_read(m, "s", &s);
  if (r < 0) return r;
  return sd_bus_reply_method_return(m, "s", s);
}

static const sd_bus_vtable vtable[] = {
  SD_BUS_VTABLE_START(0),
  SD_BUS_METHOD("Echo", "s", "s", echo, 0),
  SD_BUS_VTABLE_END,
};

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static double cpu_us(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec * 1e6 + u.ru_utime.tv_usec + u.ru_stime.tv_sec * 1e6 + u.ru_stime.tv_usec;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static long issued, done, total;
static const char *dest;

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *e);

static void issue(sd_bus *bus) {
  int r = sd_bus_call_method_async(bus, NULL, dest, "/bench", "com.example.Bench", "Echo", on_reply, NULL, "s", PAYLOAD);
  if (r < 0) die("sd_bus_call_method_async", r);
  issued++;
}

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *e) {
  if (sd_bus_message_is_method_error(m, NULL)) {
    fprintf(stderr, "sdbus-echo: error reply %s\n", sd_bus_message_get_error(m)->name);
    exit(1);
  }
  done++;
  if (issued < total) issue(sd_bus_message_get_bus(m));
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 4 && strcmp(argv[1], "service") == 0) {
    sd_bus *bus = open_bus(argv[2]);
    int r = sd_bus_add_object_vtable(bus, NULL, "/bench", "com.example.Bench", vtable, NULL);
    if (r < 0) die("sd_bus_add_object_vtable", r);
    if ((r = sd_bus_request_name(bus, argv[3], 0)) < 0) die("sd_bus_request_name", r);
    printf("ready\n");
    fflush(stdout);
    for (;;) {
      r = sd_bus_process(bus, NULL);
      if (r < 0) die("sd_bus_process", r);
      if (r > 0) continue;
      r = sd_bus_wait(bus, (uint64_t)-1);
      if (r < 0) die("sd_bus_wait", r);
    }
  }
  if (argc >= 7 && strcmp(argv[1], "client") == 0) {
    sd_bus *bus = open_bus(argv[2]);
    dest = argv[3];
    long rounds = atol(argv[4]);
    total = atol(argv[5]);
    long depth = atol(argv[6]);
    double *lat = malloc(sizeof(double) * rounds);
    for (long i = -100; i < rounds; i++) {
      sd_bus_message *reply = NULL;
      sd_bus_error err = SD_BUS_ERROR_NULL;
      double t0 = now_us();
      int r = sd_bus_call_method(bus, dest, "/bench", "com.example.Bench", "Echo", &err, &reply, "s", PAYLOAD);
      if (r < 0) die(err.message ? err.message : "sd_bus_call_method", r);
      double t1 = now_us();
      if (i >= 0) lat[i] = t1 - t0;
      sd_bus_message_unref(reply);
    }
    qsort(lat, rounds, sizeof(double), cmp);
    printf("pipeline\n");
    fflush(stdout);
    double c0 = cpu_us();
    double t0 = now_us();
    for (long i = 0; i < depth && issued < total; i++) issue(bus);
    while (done < total) {
      int r = sd_bus_process(bus, NULL);
      if (r < 0) die("sd_bus_process", r);
      if (r > 0) continue;
      r = sd_bus_wait(bus, (uint64_t)-1);
      if (r < 0) die("sd_bus_wait", r);
    }
    double secs = (now_us() - t0) / 1e6;
    double cpu = (cpu_us() - c0) / total;
    printf("{\"p50\":%.2f,\"p99\":%.2f,\"callsPerSec\":%.1f,\"clientCpuUs\":%.2f}\n", lat[rounds / 2], lat[(long)(rounds * 0.99)], total / secs, cpu);
    return 0;
  }
  fprintf(stderr, "usage: sdbus-echo service ADDRESS NAME | client ADDRESS NAME ROUNDS CALLS DEPTH\n");
  return 2;
}
