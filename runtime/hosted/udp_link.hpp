// The UDP link of a hosted node: one non-blocking IPv4 UDP socket per UDP network the node is on,
// implementing rpc::Link (runtime/rpc/link.hpp) with one datagram per link frame
// (kernel/net/datagram.hpp).
//
// Addresses. Plan addresses ("10.0.0.2", or a host name of the plan such as "cloud") go through
// the cluster runner's address map first (`--udp-map ADDR:PORT=HOST:PORT,...`, parse_udp_map):
// the runner runs every node on loopback and tells each where the others really listen. A node
// binds its own endpoint through the same map. What the map does not name must be an IPv4
// literal, used as is; anything else is not_found. There is no DNS lookup at run time: it would
// block the loop and make a node's peers depend on a resolver; names are the runner's business.
//
// Waking. The socket is watched by the process's FdWatcher (kernel/arch/hosted_linux/fd_watch.hpp):
// a datagram arriving wakes the sleeping loop, which runs poll() on the loop thread. Nobody else
// has to call poll(), though it may be called at any time.
//
// Back-pressure. send() never waits and never queues: a full socket send buffer (EAGAIN, or
// ENOBUFS) answers would_block and the frame is gone, like a datagram lost on the way; the RPC
// layer's retries and deadlines handle it. On loopback and an idle Ethernet this needs ~200 KiB
// of datagrams handed to the kernel and not yet sent.
//
// The socket is created with SOCK_CLOEXEC: group processes (this executable re-executed) never
// inherit it, and their seccomp sandbox allows no socket calls anyway.
#pragma once

#include <netinet/in.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kernel/arch/hosted_linux/fd_watch.hpp"
#include "kernel/core/status.hpp"
#include "kernel/core/task.hpp"
#include "kernel/net/datagram.hpp"
#include "kernel/net/link.hpp"
#include "runtime/rpc/link.hpp"

namespace ambience::hosted {

// One entry of the address map: plan address:port -> where that endpoint really is.
struct UdpMapEntry {
  std::string address;  // as the plan writes it: an IPv4 literal or a host name
  std::uint16_t port = 0;
  std::string host;  // an IPv4 literal (no names: nothing is looked up at run time)
  std::uint16_t host_port = 0;
};

struct UdpMap {
  std::vector<UdpMapEntry> entries;
  const UdpMapEntry* find(std::string_view address, std::uint16_t port) const;
};

// Parses `ADDR:PORT=HOST:PORT[,ADDR:PORT=HOST:PORT...]` ("" is the empty map). ADDR is an IPv4
// literal or a name ([A-Za-z0-9._-]); HOST must be an IPv4 literal; ports are 1..65535; one
// ADDR:PORT appears once. On error returns bad_message and, with `error`, says which entry and
// why, e.g. `--udp-map entry 2 "cloud:7000=localhost:7000": host "localhost" is not an IPv4 address`.
Result<UdpMap> parse_udp_map(std::string_view text, std::string* error = nullptr);

// The value of `--udp-map VALUE` or `--udp-map=VALUE` in a node's arguments ("" when absent; the
// last one wins, as the runner may append to a command line).
std::string_view udp_map_argument(int argc, char** argv);

// Plan address:port -> socket address: through the map, else an IPv4 literal as is; not_found
// otherwise (a name the map does not know).
Result<sockaddr_in> resolve_udp_address(const UdpMap& map, std::string_view address, std::uint16_t port);

struct UdpLinkOptions {
  std::string address;  // this node's endpoint on the network, as the plan writes it
  std::uint16_t port = 0;  // 0 (tests): any free port, see UdpLink::local_port()
  const UdpMap* map = nullptr;  // nullptr: no map (copied by open())
  // Largest datagram sent or accepted. 1472 = 1500 (Ethernet MTU) - 20 (IPv4) - 8 (UDP): no IP
  // fragmentation on any Ethernet hop, where one lost fragment would lose the whole datagram.
  // Loopback (MTU 64 KiB) would carry more, but the plan's networks are meant to be real ones.
  std::size_t max_datagram = net::kUdpEthernetPayload;
  std::size_t max_peers = 32;  // distinct address:port pairs sent to or heard from
  std::size_t poll_budget = 64;  // datagrams per poll(): other work runs between bursts
  int receive_buffer_bytes = 0;  // SO_RCVBUF (0: the system default)
  arch::hosted::FdWatcher* watcher = nullptr;  // nullptr: FdWatcher::process()
};

// What UdpLink counts beyond LinkCounters (every drop is also in frames_dropped).
struct UdpLinkStats {
  std::uint64_t drops_by_reason[9] = {};  // indexed by net::LinkError (decode failures)
  std::uint64_t oversize = 0;             // datagram longer than max_datagram
  std::uint64_t peer_table_full = 0;      // a new sender with no room in the peer table
  std::uint64_t would_block = 0;          // send buffer full (also in send_errors)
  std::uint64_t receive_errors = 0;       // recvfrom failed other than EAGAIN
  std::uint64_t polls = 0;
};

class UdpLink final : public rpc::Link {
 public:
  // Binds the endpoint (after the map): unavailable if the socket cannot be bound (the address
  // is not local, the port is taken), not_found if the address does not resolve.
  static Result<std::unique_ptr<UdpLink>> open(const UdpLinkOptions& options, std::string* error = nullptr);
  ~UdpLink();
  UdpLink(const UdpLink&) = delete;
  UdpLink& operator=(const UdpLink&) = delete;

  Result<rpc::Peer> resolve(std::string_view address, std::uint16_t port) override;
  std::size_t max_fragment() const override { return max_datagram_ - net::kLinkOverhead; }
  Task<Status> send(rpc::Peer to, const net::LinkHeader& header, std::span<const std::byte> payload) override;
  std::size_t poll() override;
  const rpc::LinkCounters& counters() const override { return counters_; }

  const UdpLinkStats& stats() const { return stats_; }
  std::uint16_t local_port() const { return local_port_; }  // the port really bound
  std::size_t peers() const { return peers_.size(); }
  // The real address of a peer (nullptr if unknown), and its sequence-gap accounting.
  const sockaddr_in* peer_address(rpc::Peer peer) const;
  const net::SequenceTracker* peer_sequence(rpc::Peer peer) const;

 private:
  struct PeerEntry {
    sockaddr_in address;
    net::SequenceTracker sequence;
  };
  UdpLink() = default;
  static void on_readable(void* self);
  // The peer with this real address, added if new; no_memory when the table is full.
  Result<rpc::Peer> peer_for(const sockaddr_in& address);

  int fd_ = -1;
  int watch_ = -1;
  arch::hosted::FdWatcher* watcher_ = nullptr;
  UdpMap map_;  // a copy: the options need not outlive the link
  std::size_t max_datagram_ = net::kUdpEthernetPayload;
  std::size_t max_peers_ = 32;
  std::size_t poll_budget_ = 64;
  std::uint16_t local_port_ = 0;
  std::vector<PeerEntry> peers_;
  std::vector<std::byte> tx_, rx_;
  rpc::LinkCounters counters_;
  UdpLinkStats stats_;
};

}  // namespace ambience::hosted
