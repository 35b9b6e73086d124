// Hardening of the IPv4 stack's receive path (Ipv4Stack::input, every byte from the wire).
// Properties: every frame is accounted for under exactly one counter; every frame the stack
// sends in response (ARP reply, ICMP echo reply) is well formed; nothing crashes or reads out of
// bounds (run under ASan/UBSan: bazel test --config=asan //kernel/net/ip:ip_fuzz_test).
//
//   * libFuzzer (clang, ASan, UBSan; AMBIENCE_LIBFUZZER defined): //tests/fuzz:ip_fuzz_libfuzzer_test
//     for a bounded run, `bazel run //tests/fuzz:campaign -- --minutes N` for long ones
//   * built-in driver (the test): ip_fuzz [iterations] [seed] — mutates valid ARP, UDP and ICMP
//     frames with a deterministic PRNG.
#include <cstdio>
#include <cstdlib>

#include "kernel/net/ip/ipv4_stack.hpp"
#include "kernel/net/ip/test_frames.hpp"
#include "kernel/net/test_util.hpp"
#include "kernel/testing/fuzz_seeds.hpp"

namespace {

using namespace ambience::net::ip;
using namespace ambience::net::ip::testing;

[[noreturn]] void broken(const char* what) {
  std::fprintf(stderr, "PROPERTY BROKEN: %s\n", what);
  std::abort();
}

RecordingWire g_wire;
RecordingReceiver g_receiver;
Ipv4Stack g_stack(test_config(), g_wire);

void one_input(std::span<const std::byte> in) {
  const std::size_t sent = g_wire.count;
  g_stack.input(in);
  if (accounted(g_stack.counters()) != g_stack.counters().rx_frames) broken("frame not accounted for");
  if (g_wire.count != sent && !well_formed_output(g_wire.last())) broken("malformed frame sent");
  if (g_receiver.size > kMaxUdpPayload) broken("oversized UDP payload delivered");
}

}  // namespace

#ifdef AMBIENCE_LIBFUZZER
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  g_stack.bind(kOurPort, &g_receiver);
  one_input({reinterpret_cast<const std::byte*>(data), size});
  return 0;
}
#else
int main(int argc, char** argv) {
  const long iterations = argc > 1 ? std::atol(argv[1]) : 100000;
  ambience::net::testing::Rng rng(argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1);
  g_stack.bind(kOurPort, &g_receiver);
  static std::byte f[kMaxFrame + 256], payload[kMaxUdpPayload];
  for (long it = 0; it < iterations; ++it) {
    const std::size_t size = rng.below(kMaxUdpPayload + 1);
    rng.fill({payload, size});
    std::size_t n = 0;
    switch (rng.below(5)) {
      case 0: n = udp_frame(f, {payload, size}, static_cast<std::uint16_t>(rng.next())); break;
      case 1: n = udp_frame(f, {payload, size}, 40000, kOurPort, false); break;
      case 2: n = icmp_echo_frame(f, {payload, size < 1400 ? size : 1400}, 1, static_cast<std::uint16_t>(it)); break;
      case 3:
        n = arp_frame(f, static_cast<std::uint16_t>(rng.below(4)), kPeerMac, static_cast<Ipv4Address>(rng.next()),
                      MacAddress{}, rng.below(2) ? kOurIp : static_cast<Ipv4Address>(rng.next()), kBroadcastMac);
        break;
      default: n = rng.below(sizeof f); rng.fill({f, n});
    }
    ambience::testing::save_fuzz_seed("ip", it, 40, f, n);
    for (std::uint32_t m = rng.below(6); m > 0; --m) {
      const std::uint32_t where = n == 0 ? 0 : rng.below(static_cast<std::uint32_t>(n));
      switch (rng.below(4)) {
        case 0: f[where] ^= static_cast<std::byte>(1u << rng.below(8)); break;
        case 1: f[where] = rng.byte(); break;
        case 2: n = rng.below(static_cast<std::uint32_t>(n) + 1); break;
        default: {
          const std::size_t extra = rng.below(static_cast<std::uint32_t>(sizeof f - n) + 1);
          rng.fill({f + n, extra});
          n += extra;
        }
      }
    }
    one_input({f, n});
    if (it % 1000 == 0) g_stack.tick(static_cast<std::uint64_t>(it));
  }
  const IpCounters& c = g_stack.counters();
  std::printf("ip_fuzz: %lu frames, %u udp, %u arp, %u icmp echo taken; %u dropped; %zu sent\n",
              static_cast<unsigned long>(c.rx_frames), c.rx_udp, c.rx_arp, c.rx_icmp_echo,
              c.rx_frames - c.rx_udp - c.rx_arp - c.rx_icmp_echo, g_wire.count);
  return c.rx_udp > 0 && c.rx_arp > 0 && c.rx_icmp_echo > 0 ? 0 : 1;
}
#endif
