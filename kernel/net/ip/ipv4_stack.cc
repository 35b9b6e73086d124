#include "kernel/net/ip/ipv4_stack.hpp"

#include <cstring>

namespace ambience::net::ip {
namespace {

// Network byte order (big-endian) at any alignment.
std::uint16_t load16(const std::byte* p) {
  return static_cast<std::uint16_t>((std::to_integer<unsigned>(p[0]) << 8) | std::to_integer<unsigned>(p[1]));
}
std::uint32_t load32(const std::byte* p) { return (std::uint32_t{load16(p)} << 16) | load16(p + 2); }
void store16(std::byte* p, std::uint16_t v) {
  p[0] = static_cast<std::byte>(v >> 8);
  p[1] = static_cast<std::byte>(v);
}
void store32(std::byte* p, std::uint32_t v) {
  store16(p, static_cast<std::uint16_t>(v >> 16));
  store16(p + 2, static_cast<std::uint16_t>(v));
}
MacAddress load_mac(const std::byte* p) {
  MacAddress m;
  std::memcpy(m.data(), p, m.size());
  return m;
}
void store_mac(std::byte* p, const MacAddress& m) { std::memcpy(p, m.data(), m.size()); }

bool is_multicast(Ipv4Address a) { return (a >> 28) == 0xE; }

// The UDP pseudo-header: source, destination, zero, protocol, UDP length.
std::uint32_t pseudo_header_sum(Ipv4Address src, Ipv4Address dst, std::uint16_t udp_length) {
  std::byte p[12];
  store32(p, src);
  store32(p + 4, dst);
  p[8] = std::byte{0};
  p[9] = std::byte{kProtocolUdp};
  store16(p + 10, udp_length);
  return checksum_add(p);
}

constexpr std::size_t kArpBody = 28;
constexpr std::uint16_t kArpRequest = 1;
constexpr std::uint16_t kArpReply = 2;
constexpr std::size_t kIpPayloadOffset = kEthernetHeader + kIpv4Header;  // 34

}  // namespace

bool parse_ipv4(std::string_view text, Ipv4Address& out) {
  Ipv4Address value = 0;
  std::size_t i = 0;
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (i >= text.size() || text[i] != '.') return false;
      ++i;
    }
    unsigned n = 0;
    std::size_t digits = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9' && digits < 3) {
      n = n * 10 + static_cast<unsigned>(text[i] - '0');
      ++i;
      ++digits;
    }
    if (digits == 0 || n > 255) return false;
    value = (value << 8) | n;
  }
  if (i != text.size()) return false;
  out = value;
  return true;
}

std::uint32_t checksum_add(std::span<const std::byte> data, std::uint32_t sum) {
  std::size_t i = 0;
  for (; i + 1 < data.size(); i += 2) {
    sum += load16(data.data() + i);
    if (sum >= 0x80000000u) sum = (sum & 0xffff) + (sum >> 16);  // never overflow on long inputs
  }
  if (i < data.size()) sum += std::to_integer<std::uint32_t>(data[i]) << 8;
  return sum;
}

std::uint16_t fold_checksum(std::uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum);
}

void Ipv4Stack::input(std::span<const std::byte> frame) {
  ++counters_.rx_frames;
  if (frame.size() < kEthernetHeader || frame.size() > kMaxFrame) {
    ++counters_.rx_runt;
    return;
  }
  const MacAddress dst = load_mac(frame.data());
  const bool broadcast = dst == kBroadcastMac;
  if (!broadcast && dst != config_.mac) {
    ++counters_.rx_not_ours;
    return;
  }
  rx_source_mac_ = load_mac(frame.data() + 6);
  const std::uint16_t type = load16(frame.data() + 12);
  const auto body = frame.subspan(kEthernetHeader);
  if (type == kEtherTypeArp) {
    input_arp(body);
  } else if (type == kEtherTypeIpv4) {
    input_ipv4(body);
  } else {
    ++counters_.rx_ethertype;
  }
}

void Ipv4Stack::input_arp(std::span<const std::byte> arp) {
  if (arp.size() < kArpBody || load16(arp.data()) != 1 || load16(arp.data() + 2) != kEtherTypeIpv4 ||
      arp[4] != std::byte{6} || arp[5] != std::byte{4}) {
    ++counters_.rx_arp_bad;
    return;
  }
  const std::uint16_t op = load16(arp.data() + 6);
  const MacAddress sender_mac = load_mac(arp.data() + 8);
  const Ipv4Address sender = load32(arp.data() + 14);
  const Ipv4Address target = load32(arp.data() + 24);
  const bool sender_mac_ok = (sender_mac[0] & 1) == 0 && sender_mac != MacAddress{};
  // A sender claiming our address is a conflict, not a neighbour; 0 is an address probe.
  if ((op != kArpRequest && op != kArpReply) || !sender_mac_ok || sender == config_.address ||
      (op == kArpReply && sender == 0) || is_multicast(sender) || sender == kLimitedBroadcast) {
    ++counters_.rx_arp_bad;
    return;
  }
  const bool for_us = target == config_.address;
  // RFC 826: refresh an entry we have whoever is asked; create one only when we are the target.
  if (sender != 0) remember(sender, sender_mac, for_us);
  if (!for_us) {
    ++counters_.rx_arp_other;
    return;
  }
  ++counters_.rx_arp;
  if (op == kArpRequest) send_arp(kArpReply, sender_mac, sender);
}

void Ipv4Stack::input_ipv4(std::span<const std::byte> p) {
  if (p.size() < kIpv4Header || (std::to_integer<unsigned>(p[0]) >> 4) != 4) {
    ++counters_.rx_ip_bad;
    return;
  }
  const std::size_t header = (std::to_integer<std::size_t>(p[0]) & 0xf) * 4;
  const std::size_t total = load16(p.data() + 2);
  // The Ethernet minimum pads short packets: trust the total length, not the frame size.
  if (header < kIpv4Header || header > p.size() || total < header || total > p.size()) {
    ++counters_.rx_ip_bad;
    return;
  }
  if (fold_checksum(checksum_add(p.first(header))) != 0) {
    ++counters_.rx_ip_checksum;
    return;
  }
  const std::uint16_t fragment = load16(p.data() + 6);
  if ((fragment & 0x2000) != 0 || (fragment & 0x1fff) != 0) {
    ++counters_.rx_ip_fragment;
    return;
  }
  const Ipv4Address src = load32(p.data() + 12);
  const Ipv4Address dst = load32(p.data() + 16);
  const Ipv4Address subnet_broadcast = config_.address | ~config_.netmask;
  if (src == 0 || src == kLimitedBroadcast || src == subnet_broadcast || is_multicast(src) || src == config_.address) {
    ++counters_.rx_ip_bad;
    return;
  }
  const bool to_broadcast = dst == kLimitedBroadcast || dst == subnet_broadcast;
  if (dst != config_.address && !to_broadcast) {
    ++counters_.rx_ip_not_ours;
    return;
  }
  const auto payload = p.subspan(header, total - header);
  const auto protocol = std::to_integer<std::uint8_t>(p[9]);
  if (protocol == kProtocolUdp) {
    input_udp(src, dst, payload);
  } else if (protocol == kProtocolIcmp) {
    if (to_broadcast) {
      ++counters_.rx_icmp_other;  // no echo replies to broadcasts (smurf amplification)
    } else {
      input_icmp(src, payload);
    }
  } else {
    ++counters_.rx_ip_protocol;
  }
}

void Ipv4Stack::input_udp(Ipv4Address src, Ipv4Address dst, std::span<const std::byte> u) {
  if (u.size() < kUdpHeader) {
    ++counters_.rx_udp_bad;
    return;
  }
  const std::uint16_t length = load16(u.data() + 4);
  const std::uint16_t src_port = load16(u.data());
  if (length < kUdpHeader || length > u.size() || src_port == 0) {
    ++counters_.rx_udp_bad;
    return;
  }
  u = u.first(length);
  if (load16(u.data() + 6) != 0 && fold_checksum(checksum_add(u, pseudo_header_sum(src, dst, length))) != 0) {
    ++counters_.rx_udp_checksum;
    return;
  }
  if (receiver_ == nullptr || load16(u.data() + 2) != port_) {
    ++counters_.rx_udp_port;
    return;
  }
  ++counters_.rx_udp;
  receiver_->on_udp(src, src_port, u.subspan(kUdpHeader));
}

void Ipv4Stack::input_icmp(Ipv4Address src, std::span<const std::byte> icmp) {
  if (icmp.size() < 8 || fold_checksum(checksum_add(icmp)) != 0) {
    ++counters_.rx_icmp_bad;
    return;
  }
  if (icmp[0] != std::byte{8} || icmp[1] != std::byte{0}) {
    ++counters_.rx_icmp_other;
    return;
  }
  ++counters_.rx_icmp_echo;
  // The reply goes back to the link address the request came from: no ARP round trip needed.
  std::byte* reply = tx_ + kIpPayloadOffset;
  std::memcpy(reply, icmp.data(), icmp.size());
  reply[0] = std::byte{0};
  store16(reply + 2, 0);
  store16(reply + 2, fold_checksum(checksum_add({reply, icmp.size()})));
  const std::size_t n = write_ipv4(tx_, rx_source_mac_, src, kProtocolIcmp, icmp.size());
  (void)transmit({tx_, n});
}

bool Ipv4Stack::next_hop(Ipv4Address to, Ipv4Address& hop) const {
  if (((to ^ config_.address) & config_.netmask) == 0) {
    hop = to;
    return true;
  }
  if (config_.gateway == 0) return false;
  hop = config_.gateway;
  return true;
}

bool Ipv4Stack::lookup(Ipv4Address address, MacAddress& out) const {
  for (const ArpEntry& e : arp_) {
    if (e.stamp != 0 && e.address == address) {
      out = e.mac;
      return true;
    }
  }
  return false;
}

void Ipv4Stack::remember(Ipv4Address address, const MacAddress& mac, bool create) {
  ArpEntry* slot = nullptr;
  for (ArpEntry& e : arp_) {
    if (e.stamp != 0 && e.address == address) slot = &e;
  }
  if (slot == nullptr) {
    if (!create) return;
    slot = &arp_[0];  // an empty entry (stamp 0) or else the least recently written
    for (ArpEntry& e : arp_) {
      if (e.stamp < slot->stamp) slot = &e;
    }
  }
  slot->address = address;
  slot->mac = mac;
  slot->stamp = ++arp_stamp_;
  if (pending_.length != 0 && pending_.next_hop == address) {
    store_mac(pending_.frame, mac);
    (void)transmit({pending_.frame, pending_.length});
    pending_.length = 0;
  }
}

void Ipv4Stack::send_arp(std::uint16_t op, const MacAddress& to_mac, Ipv4Address to_ip) {
  std::byte* f = tx_;
  store_mac(f, op == kArpRequest ? kBroadcastMac : to_mac);
  store_mac(f + 6, config_.mac);
  store16(f + 12, kEtherTypeArp);
  std::byte* a = f + kEthernetHeader;
  store16(a, 1);
  store16(a + 2, kEtherTypeIpv4);
  a[4] = std::byte{6};
  a[5] = std::byte{4};
  store16(a + 6, op);
  store_mac(a + 8, config_.mac);
  store32(a + 14, config_.address);
  store_mac(a + 18, op == kArpRequest ? MacAddress{} : to_mac);
  store32(a + 24, to_ip);
  if (op == kArpRequest) ++counters_.arp_requests_sent;
  (void)transmit({f, kEthernetHeader + kArpBody});
}

std::size_t Ipv4Stack::write_ipv4(std::byte* f, const MacAddress& to_mac, Ipv4Address to, std::uint8_t protocol,
                                  std::size_t payload_length) {
  store_mac(f, to_mac);
  store_mac(f + 6, config_.mac);
  store16(f + 12, kEtherTypeIpv4);
  std::byte* h = f + kEthernetHeader;
  h[0] = std::byte{0x45};
  h[1] = std::byte{0};
  store16(h + 2, static_cast<std::uint16_t>(kIpv4Header + payload_length));
  store16(h + 4, ip_id_++);
  store16(h + 6, 0x4000);  // DF: we never fragment, so neither may a router on the way
  h[8] = std::byte{config_.ttl};
  h[9] = std::byte{protocol};
  store16(h + 10, 0);
  store32(h + 12, config_.address);
  store32(h + 16, to);
  store16(h + 10, fold_checksum(checksum_add({h, kIpv4Header})));
  return kIpPayloadOffset + payload_length;
}

Status Ipv4Stack::transmit(std::span<const std::byte> frame) {
  const Status s = out_.transmit(frame);
  if (s == Status::ok) {
    ++counters_.tx_frames;
  } else {
    ++counters_.tx_errors;
  }
  return s;
}

Status Ipv4Stack::send_udp(Ipv4Address to, std::uint16_t to_port, std::span<const std::byte> payload) {
  const Ipv4Address subnet_broadcast = config_.address | ~config_.netmask;
  const bool broadcast = to == kLimitedBroadcast || to == subnet_broadcast;
  if (payload.size() > kMaxUdpPayload || to_port == 0 || to == 0 || to == config_.address ||
      (is_multicast(to) && !broadcast)) {
    return Status::bad_message;
  }
  MacAddress mac = kBroadcastMac;
  Ipv4Address hop = to;
  bool known = broadcast;
  if (!broadcast) {
    if (!next_hop(to, hop)) return Status::unavailable;
    known = lookup(hop, mac);
    if (!known && pending_.length != 0) return Status::would_block;
  }
  std::byte* f = known ? tx_ : pending_.frame;
  std::byte* u = f + kIpPayloadOffset;
  const auto length = static_cast<std::uint16_t>(kUdpHeader + payload.size());
  store16(u, port_);
  store16(u + 2, to_port);
  store16(u + 4, length);
  store16(u + 6, 0);
  if (!payload.empty()) std::memcpy(u + kUdpHeader, payload.data(), payload.size());
  std::uint16_t sum = fold_checksum(checksum_add({u, length}, pseudo_header_sum(config_.address, to, length)));
  store16(u + 6, sum == 0 ? 0xffff : sum);  // 0 on the wire means "no checksum"
  const std::size_t n = write_ipv4(f, mac, to, kProtocolUdp, length);
  if (known) return transmit({f, n});
  pending_.next_hop = hop;
  pending_.length = n;
  pending_.attempts = 1;
  pending_.last_request_ms = now_ms_;
  send_arp(kArpRequest, kBroadcastMac, hop);
  return Status::ok;
}

void Ipv4Stack::tick(std::uint64_t now_ms) {
  now_ms_ = now_ms;
  if (pending_.length == 0 || now_ms - pending_.last_request_ms < kArpRetryMs) return;
  if (pending_.attempts >= kArpAttempts) {
    pending_.length = 0;
    ++counters_.arp_failures;
    return;
  }
  ++pending_.attempts;
  pending_.last_request_ms = now_ms;
  send_arp(kArpRequest, kBroadcastMac, pending_.next_hop);
}

}  // namespace ambience::net::ip
