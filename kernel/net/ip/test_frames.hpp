// Tests only: builds Ethernet frames the way a peer would (written apart from the stack's own
// encoder, so a shared mistake does not cancel out), a recording EthernetOutput and UdpReceiver,
// and the accounting invariant every input must keep.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "kernel/net/ip/ipv4_stack.hpp"

namespace ambience::net::ip::testing {

inline constexpr MacAddress kOurMac{0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
inline constexpr MacAddress kPeerMac{0x52, 0x55, 0x0a, 0x00, 0x00, 0x01};
inline constexpr Ipv4Address kOurIp = 0x0A000002;   // 10.0.0.2
inline constexpr Ipv4Address kPeerIp = 0x0A000001;  // 10.0.0.1
inline constexpr std::uint16_t kOurPort = 7000;

inline IpConfig test_config() {
  IpConfig c;
  c.mac = kOurMac;
  c.address = kOurIp;
  c.netmask = 0xffffff00u;
  c.gateway = kPeerIp;
  return c;
}

inline void put16(std::byte* p, std::uint16_t v) {
  p[0] = static_cast<std::byte>(v >> 8);
  p[1] = static_cast<std::byte>(v);
}
inline void put32(std::byte* p, std::uint32_t v) {
  put16(p, static_cast<std::uint16_t>(v >> 16));
  put16(p + 2, static_cast<std::uint16_t>(v));
}
inline std::uint16_t get16(const std::byte* p) {
  return static_cast<std::uint16_t>(std::to_integer<unsigned>(p[0]) << 8 | std::to_integer<unsigned>(p[1]));
}
inline std::uint32_t get32(const std::byte* p) { return std::uint32_t{get16(p)} << 16 | get16(p + 2); }

// Straightforward 16-bit ones' complement, word by word with end-around carry.
inline std::uint16_t ones_sum(const std::byte* p, std::size_t n, std::uint16_t start = 0) {
  std::uint32_t s = start;
  for (std::size_t i = 0; i < n; i += 2) {
    std::uint32_t w = std::to_integer<std::uint32_t>(p[i]) << 8;
    if (i + 1 < n) w |= std::to_integer<std::uint32_t>(p[i + 1]);
    s += w;
    s = (s & 0xffff) + (s >> 16);
  }
  return static_cast<std::uint16_t>(s);
}

inline std::size_t eth_header(std::byte* f, const MacAddress& dst, const MacAddress& src, std::uint16_t type) {
  std::memcpy(f, dst.data(), 6);
  std::memcpy(f + 6, src.data(), 6);
  put16(f + 12, type);
  return 14;
}

inline std::size_t arp_frame(std::byte* f, std::uint16_t op, const MacAddress& sha, Ipv4Address spa,
                             const MacAddress& tha, Ipv4Address tpa, const MacAddress& eth_dst) {
  std::size_t n = eth_header(f, eth_dst, sha, kEtherTypeArp);
  std::byte* a = f + n;
  put16(a, 1);
  put16(a + 2, 0x0800);
  a[4] = std::byte{6};
  a[5] = std::byte{4};
  put16(a + 6, op);
  std::memcpy(a + 8, sha.data(), 6);
  put32(a + 14, spa);
  std::memcpy(a + 18, tha.data(), 6);
  put32(a + 24, tpa);
  return n + 28;
}

struct Ipv4Options {
  Ipv4Address src = kPeerIp, dst = kOurIp;
  std::uint8_t protocol = kProtocolUdp;
  std::uint16_t flags_fragment = 0;
  std::uint8_t ttl = 64;
};

// Ethernet + IPv4 header around `payload_length` bytes already at f + 34; returns frame length.
inline std::size_t ipv4_frame(std::byte* f, const Ipv4Options& o, std::size_t payload_length) {
  eth_header(f, kOurMac, kPeerMac, kEtherTypeIpv4);
  std::byte* h = f + 14;
  h[0] = std::byte{0x45};
  h[1] = std::byte{0};
  put16(h + 2, static_cast<std::uint16_t>(20 + payload_length));
  put16(h + 4, 0x1234);
  put16(h + 6, o.flags_fragment);
  h[8] = std::byte{o.ttl};
  h[9] = std::byte{o.protocol};
  put16(h + 10, 0);
  put32(h + 12, o.src);
  put32(h + 16, o.dst);
  put16(h + 10, static_cast<std::uint16_t>(~ones_sum(h, 20)));
  return 34 + payload_length;
}

inline std::uint16_t udp_checksum(Ipv4Address src, Ipv4Address dst, const std::byte* udp, std::size_t n) {
  std::byte pseudo[12];
  put32(pseudo, src);
  put32(pseudo + 4, dst);
  pseudo[8] = std::byte{0};
  pseudo[9] = std::byte{kProtocolUdp};
  put16(pseudo + 10, static_cast<std::uint16_t>(n));
  return static_cast<std::uint16_t>(~ones_sum(udp, n, ones_sum(pseudo, 12)));
}

inline std::size_t udp_frame(std::byte* f, std::span<const std::byte> payload, std::uint16_t src_port = 40000,
                             std::uint16_t dst_port = kOurPort, bool with_checksum = true, Ipv4Options o = {}) {
  std::byte* u = f + 34;
  const std::size_t n = 8 + payload.size();
  put16(u, src_port);
  put16(u + 2, dst_port);
  put16(u + 4, static_cast<std::uint16_t>(n));
  put16(u + 6, 0);
  if (!payload.empty()) std::memcpy(u + 8, payload.data(), payload.size());
  if (with_checksum) {
    const std::uint16_t c = udp_checksum(o.src, o.dst, u, n);
    put16(u + 6, c == 0 ? 0xffff : c);
  }
  o.protocol = kProtocolUdp;
  return ipv4_frame(f, o, n);
}

inline std::size_t icmp_echo_frame(std::byte* f, std::span<const std::byte> data, std::uint16_t id, std::uint16_t seq) {
  std::byte* m = f + 34;
  m[0] = std::byte{8};
  m[1] = std::byte{0};
  put16(m + 2, 0);
  put16(m + 4, id);
  put16(m + 6, seq);
  if (!data.empty()) std::memcpy(m + 8, data.data(), data.size());
  put16(m + 2, static_cast<std::uint16_t>(~ones_sum(m, 8 + data.size())));
  Ipv4Options o;
  o.protocol = kProtocolIcmp;
  return ipv4_frame(f, o, 8 + data.size());
}

// Keeps the last frames the stack transmitted; can refuse (a full device).
class RecordingWire final : public EthernetOutput {
 public:
  static constexpr std::size_t kKept = 4;
  Status transmit(std::span<const std::byte> frame) override {
    if (refuse) return Status::would_block;
    Kept& k = kept[count % kKept];
    std::memcpy(k.bytes, frame.data(), frame.size());
    k.size = frame.size();
    ++count;
    return Status::ok;
  }
  std::span<const std::byte> last() const {
    const Kept& k = kept[(count + kKept - 1) % kKept];
    return {k.bytes, k.size};
  }
  struct Kept {
    std::byte bytes[kMaxFrame];
    std::size_t size = 0;
  };
  Kept kept[kKept];
  std::size_t count = 0;
  bool refuse = false;
};

class RecordingReceiver final : public UdpReceiver {
 public:
  void on_udp(Ipv4Address from, std::uint16_t from_port, std::span<const std::byte> payload) override {
    ++count;
    last_from = from;
    last_port = from_port;
    size = payload.size();
    std::memcpy(bytes, payload.data(), payload.size());
  }
  std::size_t count = 0;
  Ipv4Address last_from = 0;
  std::uint16_t last_port = 0;
  std::byte bytes[kMaxFrame];
  std::size_t size = 0;
};

// Every input frame is taken or dropped under exactly one counter.
inline std::uint32_t accounted(const IpCounters& c) {
  return c.rx_arp + c.rx_udp + c.rx_icmp_echo + c.rx_runt + c.rx_not_ours + c.rx_ethertype + c.rx_arp_bad +
         c.rx_arp_other + c.rx_ip_bad + c.rx_ip_checksum + c.rx_ip_fragment + c.rx_ip_not_ours + c.rx_ip_protocol +
         c.rx_udp_bad + c.rx_udp_checksum + c.rx_udp_port + c.rx_icmp_bad + c.rx_icmp_other;
}

// What every frame the stack sends must satisfy: a sane size, our source MAC, and for IPv4 a
// valid header checksum and (UDP) a checksum that verifies.
inline bool well_formed_output(std::span<const std::byte> f) {
  if (f.size() < 14 || f.size() > kMaxFrame || std::memcmp(f.data() + 6, kOurMac.data(), 6) != 0) return false;
  const std::uint16_t type = get16(f.data() + 12);
  if (type == kEtherTypeArp) return f.size() == 42;
  if (type != kEtherTypeIpv4 || f.size() < 34) return false;
  const std::byte* h = f.data() + 14;
  if (h[0] != std::byte{0x45} || ones_sum(h, 20) != 0xffff) return false;
  const std::size_t total = get16(h + 2);
  if (total + 14 != f.size()) return false;
  if (h[9] == std::byte{kProtocolUdp}) {
    const std::byte* u = h + 20;
    if (get16(u + 4) != total - 20 || get16(u + 6) == 0) return false;
    return udp_checksum(get32(h + 12), get32(h + 16), u, total - 20) == 0 ||
           udp_checksum(get32(h + 12), get32(h + 16), u, total - 20) == 0xffff;
  }
  return h[9] == std::byte{kProtocolIcmp} && ones_sum(h + 20, total - 20) == 0xffff;
}

}  // namespace ambience::net::ip::testing
