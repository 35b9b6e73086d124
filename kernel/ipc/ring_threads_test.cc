// Host-only: the two ends of a ring on two threads (x86_64 memory model, real concurrency).
// Each side makes requests and serves the other's; every payload is checked on arrival.
#include <atomic>
#include <cstdio>
#include <thread>

#include "kernel/ipc/ring.hpp"

namespace {

using namespace ambience::ipc;
using ambience::Status;

constexpr RingConfig kConfig{8, 8, 64};
constexpr std::uint32_t kCalls = 200000;
alignas(64) std::byte g_region[1 << 16];

struct Side_ {
  RingEndpoint endpoint;
  std::uint32_t sent = 0, answered = 0, served = 0;
  bool failed = false;
};

// One side's loop: keeps its partition busy with requests carrying `seq`, serves the peer's
// requests by returning seq*3, and checks the answers to its own.
void run_side(Side_& s, std::uint32_t salt, const std::atomic<bool>& other_done, std::atomic<bool>& done) {
  Entry got[16];
  while (!(s.answered == kCalls && other_done.load())) {
    while (s.sent < kCalls) {
      const std::int32_t i = s.endpoint.try_acquire();
      if (i < 0) break;
      auto* h = s.endpoint.header(static_cast<std::uint32_t>(i));
      h->cookie = s.sent ^ salt;
      h->size = 4;
      const std::uint32_t v = s.sent;
      std::memcpy(s.endpoint.payload(static_cast<std::uint32_t>(i)), &v, 4);
      if (s.endpoint.push(EntryKind::request, static_cast<std::uint32_t>(i)) != Status::ok) s.failed = true;
      ++s.sent;
    }
    s.endpoint.flush();
    const std::size_t n = s.endpoint.poll(got);
    for (std::size_t k = 0; k < n; ++k) {
      const std::uint32_t i = got[k].index;
      ElementHeader h;
      if (s.endpoint.read_header(i, h) != Status::ok) s.failed = true;
      std::uint32_t v;
      std::memcpy(&v, s.endpoint.payload(i), 4);
      if (got[k].kind == EntryKind::request) {
        v *= 3;
        std::memcpy(s.endpoint.payload(i), &v, 4);
        if (s.endpoint.push(EntryKind::response, i) != Status::ok) s.failed = true;
        ++s.served;
      } else {
        if (v != (h.cookie ^ salt) * 3) s.failed = true;
        s.endpoint.release(i);
        ++s.answered;
      }
    }
    s.endpoint.flush();
    if (s.endpoint.corrupted()) {
      std::printf("corrupted: %s\n", s.endpoint.fault());
      s.failed = true;
      break;
    }
    if (s.answered == kCalls) done.store(true);
  }
  done.store(true);
}

}  // namespace

int main() {
  if (format_region(g_region, sizeof g_region, kConfig, 1) != Status::ok) return 2;
  static Side_ kernel, group;
  if (kernel.endpoint.attach(Side::kernel, g_region, sizeof g_region, kConfig, nullptr, nullptr) != Status::ok)
    return 2;
  if (group.endpoint.attach(Side::group, g_region, sizeof g_region, kConfig, nullptr, nullptr) != Status::ok) return 2;
  std::atomic<bool> kernel_done{false}, group_done{false};
  std::thread t([&] { run_side(group, 0x5a5a, kernel_done, group_done); });
  run_side(kernel, 0x1234, group_done, kernel_done);
  t.join();
  std::printf("kernel: sent %u answered %u served %u; group: sent %u answered %u served %u\n", kernel.sent,
              kernel.answered, kernel.served, group.sent, group.answered, group.served);
  const bool ok = !kernel.failed && !group.failed && kernel.answered == kCalls && group.answered == kCalls &&
                  kernel.served == kCalls && group.served == kCalls;
  std::printf(ok ? "PASS\n" : "FAIL\n");
  return ok ? 0 : 1;
}
