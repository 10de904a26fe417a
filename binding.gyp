{
  "targets": [
    {
      "target_name": "fastbus",
      "sources": [
        "src/native/addon.c",
        "src/native/napi-util.c",
        "src/native/address.c",
        "src/native/cma.c",
        "src/native/memfd.c",
        "src/native/mmap.c",
        "src/native/anon.c",
        "src/native/heap.c",
        "src/native/eventfd.c",
        "src/native/poll.c",
        "src/native/loop-spin.c",
        "src/native/loop-turn.c",
        "src/native/loop-busy.c",
        "src/native/socket.c",
        "src/native/fd.c",
        "src/native/pidfd.c"
      ],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
