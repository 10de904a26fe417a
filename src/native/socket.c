/* Unix domain sockets, non-blocking, with fd passing (SCM_RIGHTS) and peer
 * credentials (SO_PEERCRED, SO_PEERGROUPS, SO_PEERPIDFD). Addresses arrive as
 * bytes: a leading NUL byte names an abstract socket. */
#define _GNU_SOURCE
#include "napi-util.h"
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif
#define SOCK_MAX_IOV 1024
#define SOCK_MAX_FDS 253 /* the kernel's SCM_MAX_FD */

/* Fills a sockaddr_un from bytes; returns its length or -1. */
static socklen_t unix_address(napi_env env, napi_value v, struct sockaddr_un *sa) {
  void *data; size_t len;
  if (fb_bytes(env, v, &data, &len) != 0 || len == 0 || len > sizeof sa->sun_path) return 0;
  memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  memcpy(sa->sun_path, data, len);
  return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
}

/* sock_open(type) -> fd or -errno: an AF_UNIX socket, non-blocking */
static napi_value sock_open(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 1) return fb_throw(env, "sock_open(type)");
  int fd = socket(AF_UNIX, fb_i32(env, argv[0]) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  return fb_int(env, fd < 0 ? -errno : fd);
}

/* sock_pair(type, out Int32Array[2]) -> 0 or -errno */
static napi_value sock_pair(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 2) return fb_throw(env, "sock_pair(type, out)");
  void *data; size_t len;
  if (fb_bytes(env, argv[1], &data, &len) != 0 || len < 2 * sizeof(int)) return fb_throw(env, "sock_pair: out");
  int r = socketpair(AF_UNIX, fb_i32(env, argv[0]) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, data);
  return fb_int(env, r < 0 ? -errno : 0);
}

/* sock_bind(fd, addressBytes) -> 0 or -errno */
static napi_value sock_bind(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 2) return fb_throw(env, "sock_bind(fd, address)");
  struct sockaddr_un sa;
  socklen_t salen = unix_address(env, argv[1], &sa);
  if (!salen) return fb_int(env, -ENAMETOOLONG);
  int r = bind(fb_i32(env, argv[0]), (struct sockaddr *)&sa, salen);
  return fb_int(env, r < 0 ? -errno : 0);
}

/* sock_connect(fd, addressBytes) -> 0 or -errno */
static napi_value sock_connect(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 2) return fb_throw(env, "sock_connect(fd, address)");
  struct sockaddr_un sa;
  socklen_t salen = unix_address(env, argv[1], &sa);
  if (!salen) return fb_int(env, -ENAMETOOLONG);
  int r = connect(fb_i32(env, argv[0]), (struct sockaddr *)&sa, salen);
  return fb_int(env, r < 0 ? -errno : 0);
}

/* sock_listen(fd, backlog) -> 0 or -errno */
static napi_value sock_listen(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 2) return fb_throw(env, "sock_listen(fd, backlog)");
  int r = listen(fb_i32(env, argv[0]), fb_i32(env, argv[1]));
  return fb_int(env, r < 0 ? -errno : 0);
}

/* sock_accept(fd) -> fd or -errno (non-blocking, close-on-exec) */
static napi_value sock_accept(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 1) return fb_throw(env, "sock_accept(fd)");
  int fd = accept4(fb_i32(env, argv[0]), NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  return fb_int(env, fd < 0 ? -errno : fd);
}

/* sock_send(fd, views[], fds Int32Array | null) -> bytes or -errno.
 * The fds travel with the first byte sent. Never raises SIGPIPE. */
static napi_value sock_send(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 3) return fb_throw(env, "sock_send(fd, views, fds)");
  static struct iovec iov[SOCK_MAX_IOV];
  uint32_t n = 0;
  napi_get_array_length(env, argv[1], &n);
  if (n > SOCK_MAX_IOV) return fb_throw(env, "sock_send: too many views");
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    napi_get_element(env, argv[1], i, &v);
    if (fb_bytes(env, v, &iov[i].iov_base, &iov[i].iov_len) != 0) return fb_throw(env, "sock_send: not a buffer");
  }
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = iov;
  msg.msg_iovlen = n;
  union { struct cmsghdr align; char buf[CMSG_SPACE(sizeof(int) * SOCK_MAX_FDS)]; } control;
  void *fds = NULL; size_t fdbytes = 0;
  if (fb_bytes(env, argv[2], &fds, &fdbytes) == 0 && fdbytes > 0) {
    if (fdbytes > sizeof(int) * SOCK_MAX_FDS) return fb_int(env, -ETOOMANYREFS);
    memset(&control, 0, sizeof control);
    msg.msg_control = control.buf;
    msg.msg_controllen = CMSG_SPACE(fdbytes);
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(fdbytes);
    memcpy(CMSG_DATA(c), fds, fdbytes);
  }
  ssize_t r = sendmsg(fb_i32(env, argv[0]), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
  return fb_int(env, r < 0 ? -errno : r);
}

/* sock_recv(fd, view, state Int32Array) -> bytes or -errno.
 * state[0] = fds received, state[1] = msg_flags (MSG_CTRUNC = fds lost),
 * state[2..] = the fds (close-on-exec); capacity is state.length - 2. */
static napi_value sock_recv(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 3) return fb_throw(env, "sock_recv(fd, view, state)");
  struct iovec iov;
  if (fb_bytes(env, argv[1], &iov.iov_base, &iov.iov_len) != 0) return fb_throw(env, "sock_recv: not a buffer");
  void *sdata; size_t sbytes;
  if (fb_bytes(env, argv[2], &sdata, &sbytes) != 0 || sbytes < 2 * sizeof(int)) return fb_throw(env, "sock_recv: state");
  int32_t *state = sdata;
  size_t capacity = sbytes / sizeof(int) - 2;
  if (capacity > SOCK_MAX_FDS) capacity = SOCK_MAX_FDS;
  union { struct cmsghdr align; char buf[CMSG_SPACE(sizeof(int) * SOCK_MAX_FDS)]; } control;
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (capacity > 0) {
    msg.msg_control = control.buf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * capacity);
  }
  state[0] = 0;
  state[1] = 0;
  ssize_t r = recvmsg(fb_i32(env, argv[0]), &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  if (r < 0) return fb_int(env, -errno);
  state[1] = msg.msg_flags;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count && (size_t)state[0] < capacity; i++) {
      memcpy(&state[2 + state[0]], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      state[0]++;
    }
  }
  return fb_int(env, r);
}

/* sock_peercred(fd, out Int32Array[3]) -> 0 or -errno: pid, uid, gid */
static napi_value sock_peercred(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 2) return fb_throw(env, "sock_peercred(fd, out)");
  void *data; size_t len;
  if (fb_bytes(env, argv[1], &data, &len) != 0 || len < 3 * sizeof(int)) return fb_throw(env, "sock_peercred: out");
  struct ucred cred;
  socklen_t sl = sizeof cred;
  int r = getsockopt(fb_i32(env, argv[0]), SOL_SOCKET, SO_PEERCRED, &cred, &sl);
  if (r < 0) return fb_int(env, -errno);
  int32_t *out = data;
  out[0] = cred.pid;
  out[1] = (int32_t)cred.uid;
  out[2] = (int32_t)cred.gid;
  return fb_int(env, 0);
}

/* sock_peergroups(fd, out Uint32Array) -> group count or -errno */
static napi_value sock_peergroups(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 2) return fb_throw(env, "sock_peergroups(fd, out)");
  void *data; size_t len;
  if (fb_bytes(env, argv[1], &data, &len) != 0) return fb_throw(env, "sock_peergroups: out");
  socklen_t sl = (socklen_t)len;
  int r = getsockopt(fb_i32(env, argv[0]), SOL_SOCKET, SO_PEERGROUPS, data, &sl);
  return fb_int(env, r < 0 ? -errno : (int64_t)(sl / sizeof(uint32_t)));
}

/* sock_peerpidfd(fd) -> pidfd or -errno (ENOPROTOOPT before Linux 6.5) */
static napi_value sock_peerpidfd(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 1) return fb_throw(env, "sock_peerpidfd(fd)");
  int pidfd = -1;
  socklen_t sl = sizeof pidfd;
  int r = getsockopt(fb_i32(env, argv[0]), SOL_SOCKET, SO_PEERPIDFD, &pidfd, &sl);
  return fb_int(env, r < 0 ? -errno : pidfd);
}

/* sock_setopt(fd, level, name, value) -> 0 or -errno (integer options) */
static napi_value sock_setopt(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 4) return fb_throw(env, "sock_setopt(fd, level, name, value)");
  int value = fb_i32(env, argv[3]);
  int r = setsockopt(fb_i32(env, argv[0]), fb_i32(env, argv[1]), fb_i32(env, argv[2]), &value, sizeof value);
  return fb_int(env, r < 0 ? -errno : 0);
}

/* sock_shutdown(fd, how) -> 0 or -errno */
static napi_value sock_shutdown(napi_env env, napi_callback_info info) {
  napi_value argv[FB_MAX_ARGS];
  if (fb_args(env, info, argv) < 2) return fb_throw(env, "sock_shutdown(fd, how)");
  int r = shutdown(fb_i32(env, argv[0]), fb_i32(env, argv[1]));
  return fb_int(env, r < 0 ? -errno : 0);
}

void socket_init(napi_env env, napi_value exports) {
  fb_export(env, exports, "sock_open", sock_open);
  fb_export(env, exports, "sock_pair", sock_pair);
  fb_export(env, exports, "sock_bind", sock_bind);
  fb_export(env, exports, "sock_connect", sock_connect);
  fb_export(env, exports, "sock_listen", sock_listen);
  fb_export(env, exports, "sock_accept", sock_accept);
  fb_export(env, exports, "sock_send", sock_send);
  fb_export(env, exports, "sock_recv", sock_recv);
  fb_export(env, exports, "sock_peercred", sock_peercred);
  fb_export(env, exports, "sock_peergroups", sock_peergroups);
  fb_export(env, exports, "sock_peerpidfd", sock_peerpidfd);
  fb_export(env, exports, "sock_setopt", sock_setopt);
  fb_export(env, exports, "sock_shutdown", sock_shutdown);
}
