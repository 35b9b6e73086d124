#include "runtime/hosted/udp_link.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

namespace ambience::hosted {
namespace {

bool parse_port(std::string_view text, std::uint16_t& out) {
  if (text.empty() || text.size() > 5) return false;
  std::uint32_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (value == 0 || value > 65535) return false;
  out = static_cast<std::uint16_t>(value);
  return true;
}

bool parse_ipv4(std::string_view text, in_addr& out) {
  // inet_pton wants a NUL-terminated string; an IPv4 literal is at most 15 characters.
  char buffer[16];
  if (text.empty() || text.size() >= sizeof buffer) return false;
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  return ::inet_pton(AF_INET, buffer, &out) == 1;
}

bool valid_name(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

// "addr:port" split at the last ':'.
bool split_endpoint(std::string_view text, std::string_view& address, std::string_view& port) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return false;
  address = text.substr(0, colon);
  port = text.substr(colon + 1);
  return true;
}

Result<UdpMap> map_error(std::string* error, std::size_t index, std::string_view entry, const std::string& why) {
  if (error != nullptr) {
    *error = "--udp-map entry " + std::to_string(index) + " \"" + std::string(entry) + "\": " + why;
  }
  return Status::bad_message;
}

sockaddr_in make_address(in_addr ip, std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr = ip;
  a.sin_port = htons(port);
  return a;
}

bool same_address(const sockaddr_in& a, const sockaddr_in& b) {
  return a.sin_addr.s_addr == b.sin_addr.s_addr && a.sin_port == b.sin_port;
}

}  // namespace

const UdpMapEntry* UdpMap::find(std::string_view address, std::uint16_t port) const {
  for (const UdpMapEntry& e : entries) {
    if (e.port == port && e.address == address) return &e;
  }
  return nullptr;
}

Result<UdpMap> parse_udp_map(std::string_view text, std::string* error) {
  UdpMap map;
  if (text.empty()) return map;
  std::size_t index = 0;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = text.find(',', start);
    const std::string_view entry = text.substr(start, comma == std::string_view::npos ? text.npos : comma - start);
    ++index;
    const std::size_t eq = entry.find('=');
    if (entry.empty()) return map_error(error, index, entry, "empty entry");
    if (eq == std::string_view::npos || entry.find('=', eq + 1) != std::string_view::npos) {
      return map_error(error, index, entry, "expected ADDR:PORT=HOST:PORT");
    }
    std::string_view address, port_text, host, host_port_text;
    if (!split_endpoint(entry.substr(0, eq), address, port_text)) {
      return map_error(error, index, entry, "plan endpoint has no :PORT");
    }
    if (!split_endpoint(entry.substr(eq + 1), host, host_port_text)) {
      return map_error(error, index, entry, "host endpoint has no :PORT");
    }
    UdpMapEntry e;
    if (!valid_name(address)) {
      return map_error(error, index, entry,
                       "plan address \"" + std::string(address) + "\" is not a name or IPv4 address");
    }
    if (!parse_port(port_text, e.port)) {
      return map_error(error, index, entry, "plan port \"" + std::string(port_text) + "\" is not 1..65535");
    }
    in_addr ip;
    if (!parse_ipv4(host, ip)) {
      return map_error(error, index, entry, "host \"" + std::string(host) + "\" is not an IPv4 address");
    }
    if (!parse_port(host_port_text, e.host_port)) {
      return map_error(error, index, entry, "host port \"" + std::string(host_port_text) + "\" is not 1..65535");
    }
    if (map.find(address, e.port) != nullptr) {
      return map_error(error, index, entry, "plan endpoint mapped twice");
    }
    e.address = std::string(address);
    e.host = std::string(host);
    map.entries.push_back(std::move(e));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return map;
}

std::string_view udp_map_argument(int argc, char** argv) {
  constexpr std::string_view kFlag = "--udp-map";
  std::string_view value;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == kFlag && i + 1 < argc) {
      value = argv[++i];
    } else if (arg.size() > kFlag.size() && arg.substr(0, kFlag.size()) == kFlag && arg[kFlag.size()] == '=') {
      value = arg.substr(kFlag.size() + 1);
    }
  }
  return value;
}

Result<sockaddr_in> resolve_udp_address(const UdpMap& map, std::string_view address, std::uint16_t port) {
  in_addr ip;
  if (const UdpMapEntry* e = map.find(address, port); e != nullptr) {
    if (!parse_ipv4(e->host, ip)) return Status::not_found;  // parse_udp_map never lets this in
    return make_address(ip, e->host_port);
  }
  if (!parse_ipv4(address, ip)) return Status::not_found;
  return make_address(ip, port);
}

Result<std::unique_ptr<UdpLink>> UdpLink::open(const UdpLinkOptions& options, std::string* error) {
  auto fail = [error](Status st, const std::string& why) -> Result<std::unique_ptr<UdpLink>> {
    if (error != nullptr) *error = why;
    return st;
  };
  const std::string endpoint = options.address + ":" + std::to_string(options.port);
  if (options.max_datagram <= net::kLinkOverhead || options.max_datagram > 65507 || options.max_peers == 0 ||
      options.poll_budget == 0) {
    return fail(Status::bad_message, "udp link " + endpoint + ": bad options");
  }
  std::unique_ptr<UdpLink> link(new UdpLink());
  if (options.map != nullptr) link->map_ = *options.map;
  Result<sockaddr_in> local = Status::not_found;
  if (options.port == 0) {
    in_addr ip;  // an ephemeral port cannot be in the map: the address alone is taken as is
    if (parse_ipv4(options.address, ip)) local = make_address(ip, 0);
  } else {
    local = resolve_udp_address(link->map_, options.address, options.port);
  }
  if (!local.ok()) {
    return fail(Status::not_found, "udp link " + endpoint + ": not in the --udp-map and not an IPv4 address");
  }
  link->max_datagram_ = options.max_datagram;
  link->max_peers_ = options.max_peers;
  link->poll_budget_ = options.poll_budget;
  link->peers_.reserve(options.max_peers);
  link->tx_.resize(options.max_datagram);
  link->rx_.resize(options.max_datagram);
  link->fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (link->fd_ < 0) return fail(Status::unavailable, "udp link " + endpoint + ": socket: " + std::strerror(errno));
  if (options.receive_buffer_bytes > 0) {
    ::setsockopt(link->fd_, SOL_SOCKET, SO_RCVBUF, &options.receive_buffer_bytes, sizeof options.receive_buffer_bytes);
  }
  const sockaddr_in bind_to = local.value();
  if (::bind(link->fd_, reinterpret_cast<const sockaddr*>(&bind_to), sizeof bind_to) != 0) {
    char ip[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &bind_to.sin_addr, ip, sizeof ip);
    return fail(Status::unavailable, "udp link " + endpoint + ": bind " + ip + ":" +
                                         std::to_string(ntohs(bind_to.sin_port)) + ": " + std::strerror(errno));
  }
  sockaddr_in bound{};
  socklen_t len = sizeof bound;
  ::getsockname(link->fd_, reinterpret_cast<sockaddr*>(&bound), &len);
  link->local_port_ = ntohs(bound.sin_port);
  link->watcher_ = options.watcher != nullptr ? options.watcher : &arch::hosted::FdWatcher::process();
  Result<int> watch = link->watcher_->watch(link->fd_, &UdpLink::on_readable, link.get());
  if (!watch.ok()) return fail(watch.status(), "udp link " + endpoint + ": cannot watch the socket");
  link->watch_ = watch.value();
  return Result<std::unique_ptr<UdpLink>>(std::move(link));
}

UdpLink::~UdpLink() {
  if (watch_ >= 0) watcher_->unwatch(watch_);
  if (fd_ >= 0) ::close(fd_);
}

void UdpLink::on_readable(void* self) { static_cast<UdpLink*>(self)->poll(); }

Result<rpc::Peer> UdpLink::peer_for(const sockaddr_in& address) {
  for (std::size_t i = 0; i < peers_.size(); ++i) {
    if (same_address(peers_[i].address, address)) return rpc::Peer{static_cast<std::uint32_t>(i)};
  }
  if (peers_.size() >= max_peers_) return Status::no_memory;
  peers_.push_back(PeerEntry{address, {}});
  return rpc::Peer{static_cast<std::uint32_t>(peers_.size() - 1)};
}

Result<rpc::Peer> UdpLink::resolve(std::string_view address, std::uint16_t port) {
  Result<sockaddr_in> a = resolve_udp_address(map_, address, port);
  if (!a.ok()) return a.status();
  return peer_for(a.value());
}

const sockaddr_in* UdpLink::peer_address(rpc::Peer peer) const {
  return peer.id < peers_.size() ? &peers_[peer.id].address : nullptr;
}

const net::SequenceTracker* UdpLink::peer_sequence(rpc::Peer peer) const {
  return peer.id < peers_.size() ? &peers_[peer.id].sequence : nullptr;
}

Task<Status> UdpLink::send(rpc::Peer to, const net::LinkHeader& header, std::span<const std::byte> payload) {
  if (to.id >= peers_.size()) co_return Status::not_found;
  // Encoded and sent without a suspension point in between, so one buffer serves every send.
  Result<std::size_t> size = net::encode_datagram(header, payload, tx_);
  if (!size.ok()) co_return size.status();
  const sockaddr_in& dest = peers_[to.id].address;
  for (;;) {
    const ssize_t n = ::sendto(fd_, tx_.data(), size.value(), 0, reinterpret_cast<const sockaddr*>(&dest), sizeof dest);
    if (n >= 0) {
      counters_.frames_sent++;
      counters_.bytes_sent += static_cast<std::uint64_t>(n);
      co_return Status::ok;
    }
    if (errno == EINTR) continue;
    counters_.send_errors++;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
      stats_.would_block++;
      co_return Status::would_block;
    }
    co_return Status::unavailable;  // no route, network down, refused by a firewall rule
  }
}

std::size_t UdpLink::poll() {
  stats_.polls++;
  std::size_t delivered = 0;
  for (std::size_t i = 0; i < poll_budget_; ++i) {
    sockaddr_in from{};
    socklen_t from_len = sizeof from;
    // MSG_TRUNC: the real length comes back, so an oversize datagram is seen as such.
    const ssize_t n = ::recvfrom(fd_, rx_.data(), rx_.size(), MSG_DONTWAIT | MSG_TRUNC,
                                 reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n < 0) {
      if (errno == EINTR) continue;
      // ECONNREFUSED and friends: an ICMP error about an earlier send; the socket stays usable.
      if (errno != EAGAIN && errno != EWOULDBLOCK) stats_.receive_errors++;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      continue;
    }
    counters_.bytes_received += static_cast<std::uint64_t>(n);
    if (static_cast<std::size_t>(n) > rx_.size()) {
      stats_.oversize++;
      counters_.frames_dropped++;
      continue;
    }
    net::LinkFrame frame;
    const net::LinkError e = net::decode_datagram({rx_.data(), static_cast<std::size_t>(n)}, frame);
    if (e != net::LinkError::none) {
      stats_.drops_by_reason[static_cast<std::size_t>(e)]++;
      counters_.frames_dropped++;
      continue;
    }
    Result<rpc::Peer> peer = peer_for(from);
    if (!peer.ok()) {
      stats_.peer_table_full++;
      counters_.frames_dropped++;
      continue;
    }
    peers_[peer.value().id].sequence.observe(frame.header.sequence);
    counters_.frames_received++;
    ++delivered;
    deliver(peer.value(), frame);
  }
  return delivered;
}

}  // namespace ambience::hosted
