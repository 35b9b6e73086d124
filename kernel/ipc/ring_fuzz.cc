// Hardening of the kernel side of a ring against its group (every byte of the shared region is
// the group's to write). The input is a script: an honest group and the kernel exchange requests
// and responses while a hostile writer overwrites arbitrary bytes of the region (cursors, slots,
// doorbells, element headers and payloads) between steps; the supervisor reformats the region
// when the kernel side declares it corrupted, as it does when it restarts a group.
// Properties: nothing crashes or reads out of bounds (ASan/UBSan); a header the kernel accepted
// has a size within the element's payload; the kernel never has more of its elements in flight
// than its partition; once corrupted, the kernel side refuses work until it is reattached;
// an honest exchange on a freshly formatted region always succeeds.
//
//   * libFuzzer (clang, ASan, UBSan; AMBIENCE_LIBFUZZER defined): //tests/fuzz:ring_fuzz
//   * built-in driver (any compiler; the test): ring_fuzz [iterations] [seed] — random scripts.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "kernel/core/scheduler.hpp"
#include "kernel/ipc/ring.hpp"
#include "kernel/net/test_util.hpp"
#include "kernel/testing/fuzz_seeds.hpp"

namespace {

using ambience::Status;
using namespace ambience::ipc;

using Endpoint = BasicRingEndpoint<64>;

[[noreturn]] void broken(const char* what) {
  std::fprintf(stderr, "PROPERTY BROKEN: %s\n", what);
  std::abort();
}

constexpr RingConfig kConfig{4, 4, 64};
alignas(64) std::byte g_region[8192];
Endpoint g_kernel;
Endpoint g_group;
std::uint32_t g_generation = 1;
std::byte g_copy[64];

void no_notify(void*, Doorbell*) {}

void attach_fresh() {
  if (format_region(g_region, sizeof g_region, kConfig, g_generation++) != Status::ok) broken("format");
  if (g_kernel.attach(Side::kernel, g_region, sizeof g_region, kConfig, no_notify, nullptr) != Status::ok)
    broken("kernel attach to a fresh region");
  if (g_group.attach(Side::group, g_region, sizeof g_region, kConfig, no_notify, nullptr) != Status::ok)
    broken("group attach to a fresh region");
}

// Reads the script.
struct Script {
  const std::uint8_t* p;
  std::size_t n;
  std::uint8_t byte() {
    if (n == 0) return 0;
    --n;
    return *p++;
  }
  std::uint16_t u16() { return static_cast<std::uint16_t>(byte() | byte() << 8); }
  std::uint32_t u32() { return u16() | static_cast<std::uint32_t>(u16()) << 16; }
};

// The kernel side serves what it polls: requests get a response, responses free the element.
void kernel_poll() {
  Entry got[8];
  const std::size_t k = g_kernel.poll(got);
  for (std::size_t i = 0; i < k; ++i) {
    const Entry e = got[i];
    if (e.index >= kConfig.elements()) broken("polled index out of range");
    if (e.kind == EntryKind::request) {
      if (g_kernel.is_mine(e.index)) broken("request in a kernel element accepted");
      ElementHeader h;
      if (g_kernel.read_header(e.index, h) != Status::ok) continue;
      if (h.size > kConfig.payload_bytes) broken("accepted header size beyond the payload");
      std::memcpy(g_copy, g_kernel.payload(e.index), h.size);
      g_kernel.header(e.index)->status = static_cast<std::uint8_t>(Status::ok);
      g_kernel.header(e.index)->size = h.size;
      (void)g_kernel.push(EntryKind::response, e.index);
    } else {
      if (!g_kernel.is_mine(e.index)) broken("response in a group element accepted");
      ElementHeader h;
      (void)g_kernel.read_header(e.index, h);
      g_kernel.release(e.index);
    }
  }
  g_kernel.flush();
}

void kernel_request(std::uint32_t size) {
  const std::int32_t i = g_kernel.try_acquire();
  if (i < 0) return;
  const auto idx = static_cast<std::uint32_t>(i);
  g_kernel.header(idx)->size = size % (kConfig.payload_bytes + 1);
  if (g_kernel.push(EntryKind::request, idx) != Status::ok) {
    g_kernel.release(idx);
    return;
  }
  g_kernel.flush();
}

// The honest group: requests with a valid size, serves the kernel's requests.
void group_step(std::uint32_t size) {
  if (g_group.corrupted()) return;
  const std::int32_t i = g_group.try_acquire();
  if (i >= 0) {
    const auto idx = static_cast<std::uint32_t>(i);
    g_group.header(idx)->size = size % (kConfig.payload_bytes + 1);
    if (g_group.push(EntryKind::request, idx) != Status::ok) g_group.release(idx);
  }
  Entry got[8];
  const std::size_t k = g_group.poll(got);
  for (std::size_t j = 0; j < k; ++j) {
    if (got[j].kind == EntryKind::request) {
      (void)g_group.push(EntryKind::response, got[j].index);
    } else {
      g_group.release(got[j].index);
    }
  }
  g_group.flush();
}

void run_script(const std::uint8_t* data, std::size_t size) {
  attach_fresh();
  bool hostile = false;
  Script s{data, size};
  for (int step = 0; step < 256 && s.n > 0; ++step) {
    switch (s.byte() % 6) {
      case 0: {  // the hostile writer: up to 16 bytes anywhere in the region
        const std::size_t at = s.u16() % RingLayout::of(kConfig).total_bytes;
        std::size_t len = s.byte() % 17;
        if (at + len > sizeof g_region) len = sizeof g_region - at;
        for (std::size_t i = 0; i < len; ++i) g_region[at + i] = static_cast<std::byte>(s.byte());
        hostile = true;
        break;
      }
      case 1: group_step(s.byte()); break;
      case 2: kernel_poll(); break;
      case 3: kernel_request(s.byte()); break;
      case 4: {  // sleeping and waking, as the loop does between batches
        std::uint32_t seq = 0;
        if (g_kernel.prepare_sleep(seq)) g_kernel.end_sleep();
        break;
      }
      default:  // the supervisor restarts the group (reformats) if the kernel side gave up
        if (g_kernel.corrupted()) {
          attach_fresh();
          hostile = false;
        }
    }
    if (g_kernel.in_flight() > kConfig.kernel_elements) broken("more kernel elements in flight than exist");
    if (g_kernel.corrupted()) {
      if (!hostile) broken("an honest exchange was declared corrupt");
      Entry got[2];
      if (g_kernel.poll(got) != 0) broken("a corrupted endpoint still delivers entries");
      if (g_kernel.push(EntryKind::request, 0) != Status::bad_message) broken("a corrupted endpoint accepts work");
    }
  }
}

}  // namespace

#ifdef AMBIENCE_LIBFUZZER
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  run_script(data, size);
  return 0;
}
#else
int main(int argc, char** argv) {
  const long iterations = argc > 1 ? std::atol(argv[1]) : 20000;
  ambience::net::testing::Rng rng(argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1);
  static std::uint8_t script[512];
  long corrupted = 0;
  for (long it = 0; it < iterations; ++it) {
    // Mostly honest steps; a hostile write in a third of the scripts, rarely more than one.
    const std::size_t n = 16 + rng.below(sizeof script - 16);
    for (std::size_t i = 0; i < n; ++i) script[i] = static_cast<std::uint8_t>(rng.next() >> 56);
    for (std::size_t i = 0; i < n; i += 4) {
      if (script[i] % 6 == 0 && rng.below(30) != 0) script[i] = static_cast<std::uint8_t>(1 + rng.below(4));
    }
    ambience::testing::save_fuzz_seed("ring", it, 30, script, n);
    run_script(script, n);
    corrupted += g_kernel.corrupted();
  }
  std::printf("ring_fuzz: %ld scripts, %ld ended with the kernel side corrupted (and refusing work)\n", iterations,
              corrupted);
  return corrupted > 0 && corrupted < iterations ? 0 : 1;
}
#endif
