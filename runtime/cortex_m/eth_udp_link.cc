#include "runtime/cortex_m/eth_udp_link.hpp"

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
    ++counters_.send_errors;
    return s;
  }
  ++counters_.frames_sent;
  counters_.bytes_sent += *n;
  return Status::ok;
}

Task<Status> EthUdpLink::send(rpc::Peer to, const net::LinkHeader& header, std::span<const std::byte> payload) {
  co_return send_now(to, header, payload);
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
