// A minimal IPv4 host stack for one Ethernet interface: Ethernet II, ARP, IPv4, UDP, ICMP echo.
// Written for the camera board's LAN9118 (and any other MAC that moves whole frames); portable,
// no heap, no clock of its own (the owner passes the time to tick()). Every byte from the wire is
// validated before it is used, and every frame that is not taken is counted under one reason.
//
// What it is not: no IP fragmentation or reassembly (fragments are dropped and counted; we send
// with DF), no IP options on send (accepted and skipped on receive), no TCP, no DHCP (the address
// comes from the deployment plan), no ICMP errors sent (no port unreachable), one bound UDP port.
// See kernel/net/ip/README.md.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "kernel/core/status.hpp"

namespace ambience::net::ip {

using MacAddress = std::array<std::uint8_t, 6>;
using Ipv4Address = std::uint32_t;  // host byte order: 10.0.0.2 = 0x0A000002

inline constexpr MacAddress kBroadcastMac{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
inline constexpr Ipv4Address kLimitedBroadcast = 0xffffffffu;

inline constexpr std::size_t kEthernetHeader = 14;
inline constexpr std::size_t kEthernetMtu = 1500;
inline constexpr std::size_t kMaxFrame = kEthernetHeader + kEthernetMtu;  // without the FCS
inline constexpr std::size_t kIpv4Header = 20;
inline constexpr std::size_t kUdpHeader = 8;
inline constexpr std::size_t kMaxUdpPayload = kEthernetMtu - kIpv4Header - kUdpHeader;  // 1472

inline constexpr std::uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr std::uint16_t kEtherTypeArp = 0x0806;
inline constexpr std::uint8_t kProtocolIcmp = 1;
inline constexpr std::uint8_t kProtocolUdp = 17;

// "10.0.0.2" -> 0x0A000002. Exactly four decimal parts 0..255, no leading '+', no spaces.
bool parse_ipv4(std::string_view text, Ipv4Address& out);

// RFC 1071 ones' complement sum of `data` (odd length padded with a zero byte) added to `sum`,
// not folded or inverted: chain calls, then fold_checksum().
std::uint32_t checksum_add(std::span<const std::byte> data, std::uint32_t sum = 0);
std::uint16_t fold_checksum(std::uint32_t sum);  // folded and inverted, ready for the header

struct IpConfig {
  MacAddress mac{};
  Ipv4Address address = 0;
  Ipv4Address netmask = 0xffffff00u;
  Ipv4Address gateway = 0;  // 0: no gateway, off-subnet destinations are unavailable
  std::uint8_t ttl = 64;
};

// Where the stack puts whole Ethernet frames (header + payload, no FCS; the MAC pads short ones).
class EthernetOutput {
 public:
  // ok, or would_block when the device has no room now (the frame is dropped and counted).
  virtual Status transmit(std::span<const std::byte> frame) = 0;

 protected:
  ~EthernetOutput() = default;
};

// Receives the payload of each valid UDP datagram to the bound port. `payload` is valid only
// during the call.
class UdpReceiver {
 public:
  virtual void on_udp(Ipv4Address from, std::uint16_t from_port, std::span<const std::byte> payload) = 0;

 protected:
  ~UdpReceiver() = default;
};

// Every received frame ends in exactly one of the rx_* counters below rx_frames.
struct IpCounters {
  std::uint32_t rx_frames = 0;  // everything input() was given
  // Taken:
  std::uint32_t rx_arp = 0;           // valid ARP requests/replies (cache updated, request answered)
  std::uint32_t rx_udp = 0;           // delivered to the receiver
  std::uint32_t rx_icmp_echo = 0;     // echo requests answered (or the reply could not be sent)
  // Dropped, by reason:
  std::uint32_t rx_runt = 0;          // shorter than an Ethernet header, or longer than kMaxFrame
  std::uint32_t rx_not_ours = 0;      // Ethernet destination neither our MAC nor broadcast
  std::uint32_t rx_ethertype = 0;     // neither IPv4 nor ARP (VLAN tags, IPv6, ...)
  std::uint32_t rx_arp_bad = 0;       // short, not Ethernet/IPv4, bad opcode, bad sender address
  std::uint32_t rx_arp_other = 0;     // valid but for another host
  std::uint32_t rx_ip_bad = 0;        // version, header length, total length, bad source address
  std::uint32_t rx_ip_checksum = 0;   // header checksum wrong
  std::uint32_t rx_ip_fragment = 0;   // MF set or fragment offset non-zero (no reassembly)
  std::uint32_t rx_ip_not_ours = 0;   // destination neither our address nor a broadcast
  std::uint32_t rx_ip_protocol = 0;   // neither UDP nor ICMP
  std::uint32_t rx_udp_bad = 0;       // short, length field inconsistent
  std::uint32_t rx_udp_checksum = 0;  // non-zero checksum that does not verify
  std::uint32_t rx_udp_port = 0;      // no receiver on the destination port
  std::uint32_t rx_icmp_bad = 0;      // short or checksum wrong
  std::uint32_t rx_icmp_other = 0;    // valid ICMP, not an echo request to us (ignored)
  // Sending:
  std::uint32_t tx_frames = 0;
  std::uint32_t tx_errors = 0;          // the device refused a frame
  std::uint32_t arp_requests_sent = 0;  // first tries and retries
  std::uint32_t arp_failures = 0;       // a held packet dropped: no reply after every retry
};

// One interface, one address, one bound UDP port.
class Ipv4Stack {
 public:
  static constexpr std::size_t kArpEntries = 4;
  static constexpr std::uint32_t kArpRetryMs = 250;
  static constexpr std::uint32_t kArpAttempts = 4;  // then the held packet is dropped

  Ipv4Stack(const IpConfig& config, EthernetOutput& out) : config_(config), out_(out) {}

  void bind(std::uint16_t port, UdpReceiver* receiver) {
    port_ = port;
    receiver_ = receiver;
  }

  // One received Ethernet frame without its FCS (any bytes: a fuzzing entry point).
  void input(std::span<const std::byte> frame);

  // Sends one UDP datagram from the bound port. ok: handed to the device, or held until the next
  // hop's ARP reply (one packet at a time); would_block: another packet is already waiting for
  // ARP, or the device is full; unavailable: no route (off-subnet and no gateway);
  // bad_message: payload longer than kMaxUdpPayload or an unusable destination.
  Status send_udp(Ipv4Address to, std::uint16_t to_port, std::span<const std::byte> payload);

  // Retries the ARP request of a held packet every kArpRetryMs, drops it after kArpAttempts.
  void tick(std::uint64_t now_ms);

  // The MAC of `address` if the cache has it.
  bool lookup(Ipv4Address address, MacAddress& out) const;
  bool holding_packet() const { return pending_.length != 0; }

  const IpConfig& config() const { return config_; }
  const IpCounters& counters() const { return counters_; }

 private:
  struct ArpEntry {
    Ipv4Address address = 0;
    MacAddress mac{};
    std::uint32_t stamp = 0;  // 0: empty; larger = more recently written
  };
  struct Pending {
    Ipv4Address next_hop = 0;
    std::size_t length = 0;  // 0: nothing held
    std::uint32_t attempts = 0;
    std::uint64_t last_request_ms = 0;
    std::byte frame[kMaxFrame];
  };

  void input_arp(std::span<const std::byte> arp);
  void input_ipv4(std::span<const std::byte> packet);
  void input_udp(Ipv4Address src, Ipv4Address dst, std::span<const std::byte> udp);
  void input_icmp(Ipv4Address src, std::span<const std::byte> icmp);

  bool next_hop(Ipv4Address to, Ipv4Address& hop) const;
  void remember(Ipv4Address address, const MacAddress& mac, bool create);
  void send_arp(std::uint16_t op, const MacAddress& to_mac, Ipv4Address to_ip);
  // Writes the Ethernet and IPv4 headers in front of `payload_length` bytes already at
  // frame + 34; returns the frame length.
  std::size_t write_ipv4(std::byte* frame, const MacAddress& to_mac, Ipv4Address to, std::uint8_t protocol,
                         std::size_t payload_length);
  Status transmit(std::span<const std::byte> frame);

  IpConfig config_;
  EthernetOutput& out_;
  UdpReceiver* receiver_ = nullptr;
  std::uint16_t port_ = 0;
  std::uint16_t ip_id_ = 0;
  std::uint32_t arp_stamp_ = 0;
  std::uint64_t now_ms_ = 0;
  MacAddress rx_source_mac_{};
  ArpEntry arp_[kArpEntries];
  Pending pending_;
  std::byte tx_[kMaxFrame];
  IpCounters counters_;
};

}  // namespace ambience::net::ip
