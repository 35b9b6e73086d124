// rpc::Link over UDP/IPv4 on an Ethernet MAC (the camera board's LAN9118): one link frame per
// UDP datagram (kernel/net/datagram.hpp), IPv4/ARP by the minimal stack of kernel/net/ip.
//
// Portable: the MAC is behind EthernetDevice, so the same link runs against a simulated wire in
// host tests and against the LAN9118 on the board (lan9118_ethernet.hpp). No heap: the peer table,
// one datagram buffer and one receive frame are members.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "kernel/core/status.hpp"
#include "kernel/core/task.hpp"
#include "kernel/net/ip/ipv4_stack.hpp"
#include "kernel/net/link.hpp"
#include "runtime/rpc/link.hpp"

namespace ambience::node {

// Moves whole Ethernet frames (no FCS).
class EthernetDevice {
 public:
  virtual Status transmit(std::span<const std::byte> frame) = 0;  // ok, or would_block when full
  virtual std::size_t receive(std::span<std::byte> out) = 0;      // next frame's size, 0: none
  virtual bool link_up() = 0;

 protected:
  ~EthernetDevice() = default;
};

struct EthUdpConfig {
  std::string_view address;   // this node's plan address on the network, "10.0.0.2"
  std::uint16_t port = 0;     // this node's plan port on the network
  std::string_view netmask = "255.255.255.0";
  std::string_view gateway;   // empty: none (only the subnet is reachable)
  net::ip::MacAddress mac{};  // locally administered (bit 1 of the first byte) unless the board has one
};

class EthUdpLink final : public rpc::Link, private net::ip::EthernetOutput, private net::ip::UdpReceiver {
 public:
  static constexpr std::size_t kMaxPeers = 8;
  static constexpr std::size_t kFramesPerPoll = 16;  // a poll never holds the loop for longer

  // `now_ms` drives ARP retries (kernel clock on a board; a test's clock on the host).
  EthUdpLink(EthernetDevice& device, const EthUdpConfig& config, std::uint64_t (*now_ms)());

  // bad_message if an address of the config does not parse.
  Status start();

  Result<rpc::Peer> resolve(std::string_view address, std::uint16_t port) override;
  std::size_t max_fragment() const override { return net::ip::kMaxUdpPayload - net::kLinkOverhead; }
  // Completes at once: ok when the datagram went to the MAC or is held for the next hop's ARP
  // reply; would_block while another datagram waits for ARP or the MAC's FIFO is full (the
  // caller's retry policy decides); unavailable without a route; not_found for an unknown peer.
  Task<Status> send(rpc::Peer to, const net::LinkHeader& header, std::span<const std::byte> payload) override;
  Status send_now(rpc::Peer to, const net::LinkHeader& header, std::span<const std::byte> payload);
  std::size_t poll() override;
  const rpc::LinkCounters& counters() const override { return counters_; }

  const net::ip::IpCounters& ip_counters() const { return stack_.counters(); }
  bool link_up() { return device_.link_up(); }

 private:
  struct PeerEntry {
    net::ip::Ipv4Address address = 0;
    std::uint16_t port = 0;
  };

  Status transmit(std::span<const std::byte> frame) override { return device_.transmit(frame); }
  void on_udp(net::ip::Ipv4Address from, std::uint16_t from_port, std::span<const std::byte> payload) override;
  Result<rpc::Peer> peer_for(net::ip::Ipv4Address address, std::uint16_t port);

  EthernetDevice& device_;
  EthUdpConfig config_;
  std::uint64_t (*now_ms_)();
  net::ip::Ipv4Stack stack_;
  PeerEntry peers_[kMaxPeers];
  std::size_t peer_count_ = 0;
  std::size_t delivered_ = 0;
  rpc::LinkCounters counters_;
  std::byte datagram_[net::ip::kMaxUdpPayload];
  std::byte rx_frame_[net::ip::kMaxFrame];
};

}  // namespace ambience::node
