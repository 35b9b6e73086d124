#include "runtime/cortex_m/eth_udp_link.hpp"

#include "kernel/core/sleep.hpp"
#include "kernel/net/datagram.hpp"

namespace ambience::node {

namespace {
net::ip::IpConfig ip_config(const EthUdpConfig& c) {
  net::ip::IpConfig ip;
  ip.mac = c.mac;
  // Unparsable addresses leave 0 here; start() reports them.
  (void)net::ip::parse_ipv4(c.address, ip.address);
  (void)net::ip::parse_ipv4(c.netmask, ip.netmask);
  if (!c.gateway.empty()) (void)net::ip::parse_ipv4(c.gateway, ip.gateway);
  return ip;
}
}  // namespace

EthUdpLink::EthUdpLink(EthernetDevice& device, const EthUdpConfig& config, std::uint64_t (*now_ms)())
    : device_(device), config_(config), now_ms_(now_ms), stack_(ip_config(config), *this) {}

Status EthUdpLink::start() {
  net::ip::Ipv4Address a = 0;
  if (!net::ip::parse_ipv4(config_.address, a) || !net::ip::parse_ipv4(config_.netmask, a) ||
      (!config_.gateway.empty() && !net::ip::parse_ipv4(config_.gateway, a)) || config_.port == 0) {
    return Status::bad_message;
  }
  stack_.bind(config_.port, this);
  return Status::ok;
}

Result<rpc::Peer> EthUdpLink::peer_for(net::ip::Ipv4Address address, std::uint16_t port) {
  for (std::size_t i = 0; i < peer_count_; ++i) {
    if (peers_[i].address == address && peers_[i].port == port) return rpc::Peer{static_cast<std::uint32_t>(i)};
  }
  if (peer_count_ == kMaxPeers) return Status::no_memory;
  peers_[peer_count_] = {address, port};
  return rpc::Peer{static_cast<std::uint32_t>(peer_count_++)};
}

Result<rpc::Peer> EthUdpLink::resolve(std::string_view address, std::uint16_t port) {
  net::ip::Ipv4Address a = 0;
  if (!net::ip::parse_ipv4(address, a) || port == 0) return Status::not_found;
  return peer_for(a, port);
}

Status EthUdpLink::send_now(rpc::Peer to, const net::LinkHeader& header, std::span<const std::byte> payload) {
  if (to.id >= peer_count_) return Status::not_found;
  Result<std::size_t> n = net::encode_datagram(header, payload, datagram_);
  if (!n) return n.status();
  const Status s = stack_.send_udp(peers_[to.id].address, peers_[to.id].port, {datagram_, *n});
  if (s != Status::ok) {
    if (s != Status::would_block) ++counters_.send_errors;  // would_block: the caller may try again
    return s;
  }
  ++counters_.frames_sent;
  counters_.bytes_sent += *n;
  return Status::ok;
}

Task<Status> EthUdpLink::send(rpc::Peer to, const net::LinkHeader& header, std::span<const std::byte> payload) {
  // The stack holds one packet while it asks for the next hop's MAC (the first packet to a new
  // peer): a message's later fragments wait for that answer instead of being refused, and so do
  // fragments that find the controller's transmit FIFO full. Bounded: the stack gives the ARP
  // request up after its attempts; a FIFO that never drains ends the send after kMaxWaits.
  constexpr int kMaxWaits = 2000;  // 1 ms each
  for (int waits = 0;; ++waits) {
    if (stack_.holding_packet()) {
      if (waits >= kMaxWaits) co_return Status::unavailable;
      co_await sleep_for(1000);
      continue;
    }
    const Status s = send_now(to, header, payload);
    if (s != Status::would_block) co_return s;
    if (waits >= kMaxWaits) {
      ++counters_.send_errors;
      co_return s;
    }
    co_await sleep_for(1000);
  }
}

void EthUdpLink::on_udp(net::ip::Ipv4Address from, std::uint16_t from_port, std::span<const std::byte> payload) {
  net::LinkFrame frame;
  if (net::decode_datagram(payload, frame) != net::LinkError::none) {
    ++counters_.frames_dropped;
    return;
  }
  Result<rpc::Peer> peer = peer_for(from, from_port);
  if (!peer) {
    ++counters_.frames_dropped;  // peer table full: a stranger cannot evict a configured peer
    return;
  }
  ++counters_.frames_received;
  counters_.bytes_received += payload.size();
  ++delivered_;
  deliver(*peer, frame);
}

std::size_t EthUdpLink::poll() {
  if (now_ms_ != nullptr) stack_.tick(now_ms_());
  delivered_ = 0;
  for (std::size_t i = 0; i < kFramesPerPoll; ++i) {
    const std::size_t n = device_.receive(rx_frame_);
    if (n == 0) break;
    stack_.input({rx_frame_, n});
  }
  return delivered_;
}

}  // namespace ambience::node
