// The IPv4 stack against frames built independently (test_frames.hpp): ARP, IPv4, UDP, ICMP,
// each malformation dropped under its own counter, and randomized frames that must all be
// accounted for. Runs on the host and on the camera board (portable_cc_test).
#include "kernel/net/ip/ipv4_stack.hpp"

#include <cstring>

#include "kernel/net/ip/test_frames.hpp"
#include "kernel/net/test_util.hpp"
#include "kernel/testing/test.hpp"

namespace {

using namespace ambience::net::ip;
using namespace ambience::net::ip::testing;
using ambience::Status;

struct Rig {
  RecordingWire wire;
  RecordingReceiver receiver;
  Ipv4Stack stack{test_config(), wire};
  std::byte f[kMaxFrame + 64];
  Rig() { stack.bind(kOurPort, &receiver); }
  void in(std::size_t n) { stack.input({f, n}); }
};

const std::byte kHello[] = {std::byte{'h'}, std::byte{'e'}, std::byte{'l'}, std::byte{'l'}, std::byte{'o'}};

AMBIENCE_TEST(parse_ipv4_accepts_dotted_quads_only) {
  Ipv4Address a = 0;
  CHECK(parse_ipv4("10.0.0.2", a));
  CHECK_EQ(a, 0x0A000002u);
  CHECK(parse_ipv4("255.255.255.255", a));
  CHECK_EQ(a, 0xffffffffu);
  CHECK(!parse_ipv4("10.0.0", a));
  CHECK(!parse_ipv4("10.0.0.256", a));
  CHECK(!parse_ipv4("10.0.0.2.", a));
  CHECK(!parse_ipv4("10..0.2", a));
  CHECK(!parse_ipv4(" 10.0.0.2", a));
  CHECK(!parse_ipv4("1000.0.0.2", a));
  CHECK(!parse_ipv4("", a));
  CHECK(!parse_ipv4("edge", a));
}

AMBIENCE_TEST(checksum_matches_rfc1071_example) {
  const std::byte d[] = {std::byte{0x00}, std::byte{0x01}, std::byte{0xf2}, std::byte{0x03},
                         std::byte{0xf4}, std::byte{0xf5}, std::byte{0xf6}, std::byte{0xf7}};
  CHECK_EQ(fold_checksum(checksum_add(d)), static_cast<std::uint16_t>(~0xddf2 & 0xffff));
  // Odd length: the last byte is the high half of a zero-padded word.
  const std::byte odd[] = {std::byte{0x12}, std::byte{0x34}, std::byte{0x56}};
  CHECK_EQ(fold_checksum(checksum_add(odd)), static_cast<std::uint16_t>(~(0x1234 + 0x5600) & 0xffff));
}

AMBIENCE_TEST(arp_request_for_us_is_answered_and_learned) {
  Rig r;
  r.in(arp_frame(r.f, 1, kPeerMac, kPeerIp, MacAddress{}, kOurIp, kBroadcastMac));
  CHECK_EQ(r.stack.counters().rx_arp, 1u);
  CHECK_EQ(r.wire.count, 1u);
  const auto reply = r.wire.last();
  CHECK_EQ(reply.size(), std::size_t{42});
  CHECK(std::memcmp(reply.data(), kPeerMac.data(), 6) == 0);
  CHECK_EQ(get16(reply.data() + 12), kEtherTypeArp);
  CHECK_EQ(get16(reply.data() + 20), 2u);  // reply
  CHECK(std::memcmp(reply.data() + 22, kOurMac.data(), 6) == 0);
  CHECK_EQ(get32(reply.data() + 28), kOurIp);
  CHECK(std::memcmp(reply.data() + 32, kPeerMac.data(), 6) == 0);
  CHECK_EQ(get32(reply.data() + 38), kPeerIp);
  MacAddress m;
  CHECK(r.stack.lookup(kPeerIp, m));
  CHECK(m == kPeerMac);
}

AMBIENCE_TEST(arp_for_another_host_is_not_answered_nor_learned) {
  Rig r;
  r.in(arp_frame(r.f, 1, kPeerMac, kPeerIp, MacAddress{}, 0x0A000009, kBroadcastMac));
  CHECK_EQ(r.stack.counters().rx_arp_other, 1u);
  CHECK_EQ(r.wire.count, 0u);
  MacAddress m;
  CHECK(!r.stack.lookup(kPeerIp, m));
}

AMBIENCE_TEST(malformed_arp_is_dropped) {
  Rig r;
  std::size_t n = arp_frame(r.f, 3, kPeerMac, kPeerIp, MacAddress{}, kOurIp, kBroadcastMac);  // opcode
  r.in(n);
  n = arp_frame(r.f, 1, kBroadcastMac, kPeerIp, MacAddress{}, kOurIp, kBroadcastMac);  // sender MAC
  r.in(n);
  n = arp_frame(r.f, 1, kPeerMac, kOurIp, MacAddress{}, kOurIp, kBroadcastMac);  // claims our address
  r.in(n);
  n = arp_frame(r.f, 1, kPeerMac, kPeerIp, MacAddress{}, kOurIp, kBroadcastMac);
  r.f[18] = std::byte{8};  // hardware length
  r.in(n);
  r.in(14 + 27);  // one byte short
  CHECK_EQ(r.stack.counters().rx_arp_bad, 5u);
  CHECK_EQ(r.wire.count, 0u);
  CHECK_EQ(accounted(r.stack.counters()), r.stack.counters().rx_frames);
}

AMBIENCE_TEST(udp_is_delivered_with_or_without_checksum) {
  Rig r;
  r.in(udp_frame(r.f, kHello));
  CHECK_EQ(r.receiver.count, 1u);
  CHECK_EQ(r.receiver.last_from, kPeerIp);
  CHECK_EQ(r.receiver.last_port, 40000u);
  CHECK_EQ(r.receiver.size, sizeof kHello);
  CHECK(std::memcmp(r.receiver.bytes, kHello, sizeof kHello) == 0);
  r.in(udp_frame(r.f, kHello, 40000, kOurPort, false));
  CHECK_EQ(r.receiver.count, 2u);
  // Ethernet padding after the IP packet is ignored.
  std::size_t n = udp_frame(r.f, {kHello, 1});
  std::memset(r.f + n, 0xAA, 60 - n);
  r.in(60);
  CHECK_EQ(r.receiver.count, 3u);
  CHECK_EQ(r.receiver.size, std::size_t{1});
}

AMBIENCE_TEST(each_ip_and_udp_malformation_has_its_counter) {
  Rig r;
  std::size_t n = udp_frame(r.f, kHello);
  r.f[34 + 8] ^= std::byte{1};  // payload bit flip: UDP checksum
  r.in(n);
  CHECK_EQ(r.stack.counters().rx_udp_checksum, 1u);

  n = udp_frame(r.f, kHello);
  r.f[14 + 8] ^= std::byte{1};  // TTL flip: header checksum
  r.in(n);
  CHECK_EQ(r.stack.counters().rx_ip_checksum, 1u);

  Ipv4Options frag;
  frag.flags_fragment = 0x2000;  // more fragments
  r.in(udp_frame(r.f, kHello, 40000, kOurPort, true, frag));
  frag.flags_fragment = 0x0010;  // offset 128
  r.in(udp_frame(r.f, kHello, 40000, kOurPort, true, frag));
  CHECK_EQ(r.stack.counters().rx_ip_fragment, 2u);

  r.in(udp_frame(r.f, kHello, 40000, 7001));
  CHECK_EQ(r.stack.counters().rx_udp_port, 1u);

  Ipv4Options other;
  other.dst = 0x0A000003;
  r.in(udp_frame(r.f, kHello, 40000, kOurPort, true, other));
  CHECK_EQ(r.stack.counters().rx_ip_not_ours, 1u);

  Ipv4Options spoof;
  spoof.src = kOurIp;
  r.in(udp_frame(r.f, kHello, 40000, kOurPort, true, spoof));
  spoof.src = 0xE0000001;  // multicast source
  r.in(udp_frame(r.f, kHello, 40000, kOurPort, true, spoof));
  n = udp_frame(r.f, kHello);
  r.in(n - 1);  // total length beyond the frame
  CHECK_EQ(r.stack.counters().rx_ip_bad, 3u);

  n = udp_frame(r.f, kHello);
  put16(r.f + 34 + 4, 100);  // UDP length beyond the IP payload
  r.in(n);
  n = udp_frame(r.f, kHello, 0);  // source port 0: nowhere to answer
  r.in(n);
  CHECK_EQ(r.stack.counters().rx_udp_bad, 2u);

  Ipv4Options tcp;
  tcp.protocol = 6;
  r.in(ipv4_frame(r.f, tcp, 20));
  CHECK_EQ(r.stack.counters().rx_ip_protocol, 1u);

  n = udp_frame(r.f, kHello);
  std::memcpy(r.f, kPeerMac.data(), 6);  // another station's frame
  r.in(n);
  CHECK_EQ(r.stack.counters().rx_not_ours, 1u);
  put16(r.f + 12, 0x86DD);  // IPv6
  std::memcpy(r.f, kOurMac.data(), 6);
  r.in(n);
  CHECK_EQ(r.stack.counters().rx_ethertype, 1u);
  r.in(13);
  CHECK_EQ(r.stack.counters().rx_runt, 1u);

  CHECK_EQ(r.receiver.count, 0u);
  CHECK_EQ(r.wire.count, 0u);
  CHECK_EQ(accounted(r.stack.counters()), r.stack.counters().rx_frames);
}

AMBIENCE_TEST(send_resolves_the_next_hop_with_arp_then_sends) {
  Rig r;
  CHECK(r.stack.send_udp(kPeerIp, 9000, kHello) == Status::ok);
  CHECK(r.stack.holding_packet());
  CHECK_EQ(r.wire.count, 1u);
  auto req = r.wire.last();
  CHECK(std::memcmp(req.data(), kBroadcastMac.data(), 6) == 0);
  CHECK_EQ(get16(req.data() + 20), 1u);
  CHECK_EQ(get32(req.data() + 38), kPeerIp);
  // A second packet while the first waits: back-pressure, not a queue.
  CHECK(r.stack.send_udp(kPeerIp, 9000, kHello) == Status::would_block);

  r.in(arp_frame(r.f, 2, kPeerMac, kPeerIp, kOurMac, kOurIp, kOurMac));
  CHECK(!r.stack.holding_packet());
  CHECK_EQ(r.wire.count, 2u);
  auto udp = r.wire.last();
  CHECK(well_formed_output(udp));
  CHECK(std::memcmp(udp.data(), kPeerMac.data(), 6) == 0);
  CHECK_EQ(get32(udp.data() + 30), kPeerIp);
  CHECK_EQ(get16(udp.data() + 34), kOurPort);
  CHECK_EQ(get16(udp.data() + 36), 9000u);
  CHECK(std::memcmp(udp.data() + 42, kHello, sizeof kHello) == 0);
  CHECK_EQ(get16(udp.data() + 20) & 0x4000u, 0x4000u);  // DF

  // Resolved now: straight out.
  CHECK(r.stack.send_udp(kPeerIp, 9000, kHello) == Status::ok);
  CHECK_EQ(r.wire.count, 3u);
  CHECK(well_formed_output(r.wire.last()));
}

AMBIENCE_TEST(off_subnet_goes_through_the_gateway_or_is_unavailable) {
  Rig r;
  CHECK(r.stack.send_udp(0x08080808, 53, kHello) == Status::ok);
  CHECK_EQ(get32(r.wire.last().data() + 38), kPeerIp);  // ARP for the gateway
  IpConfig c = test_config();
  c.gateway = 0;
  RecordingWire w;
  Ipv4Stack lone(c, w);
  CHECK(lone.send_udp(0x08080808, 53, kHello) == Status::unavailable);
  CHECK(lone.send_udp(kOurIp, 53, kHello) == Status::bad_message);
  CHECK(lone.send_udp(kPeerIp, 0, kHello) == Status::bad_message);
  static std::byte big[kMaxUdpPayload + 1];
  CHECK(lone.send_udp(kPeerIp, 53, big) == Status::bad_message);
  CHECK(lone.send_udp(kPeerIp, 53, {big, kMaxUdpPayload}) == Status::ok);
}

AMBIENCE_TEST(arp_is_retried_then_the_held_packet_fails) {
  Rig r;
  r.stack.tick(1000);
  CHECK(r.stack.send_udp(kPeerIp, 9000, kHello) == Status::ok);
  r.stack.tick(1100);
  CHECK_EQ(r.stack.counters().arp_requests_sent, 1u);
  r.stack.tick(1250);
  CHECK_EQ(r.stack.counters().arp_requests_sent, 2u);
  r.stack.tick(1500);
  r.stack.tick(1750);
  CHECK_EQ(r.stack.counters().arp_requests_sent, Ipv4Stack::kArpAttempts);
  CHECK(r.stack.holding_packet());
  r.stack.tick(2000);
  CHECK(!r.stack.holding_packet());
  CHECK_EQ(r.stack.counters().arp_failures, 1u);
  // A late reply finds nothing held and sends nothing.
  const std::size_t before = r.wire.count;
  r.in(arp_frame(r.f, 2, kPeerMac, kPeerIp, kOurMac, kOurIp, kOurMac));
  CHECK_EQ(r.wire.count, before);
}

AMBIENCE_TEST(arp_cache_is_bounded_and_replaces_the_oldest) {
  Rig r;
  for (std::uint32_t i = 0; i < Ipv4Stack::kArpEntries + 1; ++i) {
    MacAddress m = kPeerMac;
    m[5] = static_cast<std::uint8_t>(i);
    r.in(arp_frame(r.f, 1, m, 0x0A000010 + i, MacAddress{}, kOurIp, kBroadcastMac));
  }
  MacAddress m;
  CHECK(!r.stack.lookup(0x0A000010, m));
  CHECK(r.stack.lookup(0x0A000010 + Ipv4Stack::kArpEntries, m));
  CHECK_EQ(m[5], static_cast<std::uint8_t>(Ipv4Stack::kArpEntries));
}

AMBIENCE_TEST(icmp_echo_is_answered_to_the_sender) {
  Rig r;
  r.in(icmp_echo_frame(r.f, kHello, 0x4242, 7));
  CHECK_EQ(r.stack.counters().rx_icmp_echo, 1u);
  CHECK_EQ(r.wire.count, 1u);
  auto reply = r.wire.last();
  CHECK(well_formed_output(reply));
  CHECK(std::memcmp(reply.data(), kPeerMac.data(), 6) == 0);
  CHECK_EQ(get32(reply.data() + 30), kPeerIp);
  CHECK(reply[34] == std::byte{0});
  CHECK_EQ(get16(reply.data() + 38), 0x4242u);
  CHECK_EQ(get16(reply.data() + 40), 7u);
  CHECK(std::memcmp(reply.data() + 42, kHello, sizeof kHello) == 0);
  // A corrupted echo request is dropped.
  std::size_t n = icmp_echo_frame(r.f, kHello, 1, 1);
  r.f[n - 1] ^= std::byte{0x40};
  r.in(n);
  CHECK_EQ(r.stack.counters().rx_icmp_bad, 1u);
  CHECK_EQ(r.wire.count, 1u);
}

AMBIENCE_TEST(device_refusal_is_counted) {
  Rig r;
  r.in(arp_frame(r.f, 1, kPeerMac, kPeerIp, MacAddress{}, kOurIp, kBroadcastMac));
  r.wire.refuse = true;
  CHECK(r.stack.send_udp(kPeerIp, 9000, kHello) == Status::would_block);
  CHECK_EQ(r.stack.counters().tx_errors, 1u);
}

// Valid frames of every kind, mutated (bit flips, truncation, extension, random bytes): nothing
// crashes, every frame is accounted for once, everything the stack sends is well formed, and an
// unmutated frame is always taken.
AMBIENCE_TEST(randomized_frames_are_all_accounted_for) {
  Rig r;
  ambience::net::testing::Rng rng(7);
  static std::byte payload[kMaxUdpPayload];
  std::uint32_t intact = 0, taken_before = 0;
  for (int it = 0; it < 3000; ++it) {
    const std::size_t size = rng.below(200);
    rng.fill({payload, size});
    std::size_t n = 0;
    const std::uint32_t kind = rng.below(4);
    switch (kind) {
      case 0: n = udp_frame(r.f, {payload, size}, 1 + static_cast<std::uint16_t>(rng.below(65535))); break;
      case 1: n = icmp_echo_frame(r.f, {payload, size}, 1, static_cast<std::uint16_t>(it)); break;
      case 2: n = arp_frame(r.f, 1, kPeerMac, kPeerIp, MacAddress{}, kOurIp, kBroadcastMac); break;
      default:
        n = 14 + rng.below(200);
        rng.fill({r.f, n});
        break;
    }
    const std::uint32_t mutations = rng.below(4);
    for (std::uint32_t m = 0; m < mutations; ++m) {
      switch (rng.below(3)) {
        case 0:
          if (n > 0)
            r.f[rng.below(static_cast<std::uint32_t>(n))] ^= std::byte{static_cast<unsigned char>(1u << rng.below(8))};
          break;
        case 1: n = rng.below(static_cast<std::uint32_t>(n) + 1); break;
        default: {
          const std::size_t extra = rng.below(64);
          rng.fill({r.f + n, extra});
          n += extra;
        }
      }
    }
    const std::size_t sent_before = r.wire.count;
    const auto& c = r.stack.counters();
    taken_before = c.rx_arp + c.rx_udp + c.rx_icmp_echo;
    r.in(n);
    if (!CHECK_EQ(accounted(c), c.rx_frames)) break;
    if (r.wire.count != sent_before && !CHECK(well_formed_output(r.wire.last()))) break;
    if (mutations == 0 && kind < 3) {
      ++intact;
      CHECK_EQ(c.rx_arp + c.rx_udp + c.rx_icmp_echo, taken_before + 1);
    }
  }
  CHECK(intact > 300);
  CHECK(r.stack.counters().rx_udp > 100);
}

}  // namespace
