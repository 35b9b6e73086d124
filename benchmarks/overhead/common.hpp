// What the baseline binaries share: the frame, flag parsing, timing, the byte-stream helpers and
// the result line the runner parses.
#pragma once

#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "benchmarks/overhead/worker.hpp"

namespace overhead {

// Monotonic nanoseconds (`perf stat` cycles are not available on the benchmark's machine).
inline std::uint64_t now_ns() { return mono_ns(); }

// The same bytes as the driver service's frame.
inline std::vector<std::uint8_t> make_frame(std::size_t bytes) {
  std::vector<std::uint8_t> f(bytes);
  for (std::size_t i = 0; i < bytes; ++i) f[i] = static_cast<std::uint8_t>(i * 131u + 7u);
  return f;
}

struct Settings {
  std::uint32_t iterations = 0;
  std::uint32_t frame_bytes = 230400;
  std::uint32_t in_flight = 1;
  std::uint32_t requests = 100;
  std::uint32_t warmup = 4;
  int port = 0;
};

[[noreturn]] inline void usage_error(const char* prog, const std::string& what) {
  std::fprintf(stderr, "%s: error: %s\n", prog, what.c_str());
  std::exit(2);
}

// --iterations N --frame-bytes B --in-flight K --requests R [--warmup W] [--port P]
inline Settings parse_settings(int argc, char** argv, int first) {
  Settings s;
  for (int i = first; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) usage_error(argv[0], flag + " needs a value");
    char* end = nullptr;
    const unsigned long v = std::strtoul(argv[i + 1], &end, 10);
    if (*end != '\0' || v > 0xffffffffu) usage_error(argv[0], flag + ": not a number: " + argv[i + 1]);
    const auto u = static_cast<std::uint32_t>(v);
    if (flag == "--iterations") s.iterations = u;
    else if (flag == "--frame-bytes") s.frame_bytes = u;
    else if (flag == "--in-flight") s.in_flight = u;
    else if (flag == "--requests") s.requests = u;
    else if (flag == "--warmup") s.warmup = u;
    else if (flag == "--port") s.port = static_cast<int>(u);
    else usage_error(argv[0], "unknown flag " + flag);
  }
  if (s.frame_bytes < 4 || s.in_flight == 0 || s.requests < s.in_flight)
    usage_error(argv[0], "need --frame-bytes >= 4, --in-flight >= 1, --requests >= --in-flight");
  return s;
}

inline bool write_all(int fd, const void* data, std::size_t n) {
  const auto* p = static_cast<const std::uint8_t*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

inline bool read_all(int fd, void* data, std::size_t n) {
  auto* p = static_cast<std::uint8_t*>(data);
  while (n > 0) {
    const ssize_t r = ::read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

// The line the runner parses (the driver service prints the same fields).
// `work_us`: the sum of the work times the worker reported, over the timed requests.
inline void print_result(const char* kind, const Settings& s, std::uint32_t answered, std::uint32_t failed,
                         std::uint64_t elapsed_ns, std::uint64_t work_us) {
  std::printf("[overhead_%s] requests=%u in_flight=%u frame_bytes=%u failed=%u elapsed_us=%llu work_us=%llu\n", kind,
              answered, s.in_flight, s.frame_bytes, failed, static_cast<unsigned long long>(elapsed_ns / 1000),
              static_cast<unsigned long long>(work_us));
  std::fflush(stdout);
}

}  // namespace overhead
