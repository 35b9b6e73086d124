// Cross-node RPC over loopback UDP, each figure against plain blocking UDP sockets (or the direct
// route) measured in the same run. See README.md for the method.
//
// Processes (all forked from this one before it opens any link, so each has its own loop and
// FdWatcher): the server node (RpcNode + UdpLink, serves Adder as a node::ServedObject), the
// protected server node (the same with Protection::required and the pair key, encrypt=true), the
// forwarder node (RpcNode with two UdpLinks and next hops, serves nothing), a plain C UDP echo
// (the baseline), and this process, the client node (RpcNode + UdpLink, the generated
// AdderRpcClient over a transport that calls RpcNode::call with a route), which also holds a
// second client node, protected, that calls the protected server.
//
//   bazel run //benchmarks/rpc [-- --quick | --smoke]
#include <arpa/inet.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "benchmarks/rpc/rpc_bench.lidl.hpp"
#include "kernel/core/arch.hpp"
#include "kernel/core/scheduler.hpp"
#include "kernel/core/task.hpp"
#include "kernel/net/envelope.hpp"
#include "kernel/net/fragment.hpp"
#include "kernel/net/secure.hpp"
#include "lidl/runtime/rpc.hpp"
#include "runtime/hosted/udp_link.hpp"
#include "runtime/node_runtime.hpp"
#include "runtime/rpc/rpc_node.hpp"

namespace {

using ambience::Result;
using ambience::Scheduler;
using ambience::Status;
using ambience::Task;
namespace hosted = ambience::hosted;
namespace net = ambience::net;
namespace node = ambience::node;
namespace rpc = ambience::rpc;

constexpr std::size_t kInFlight = 64;

// Run sizes: default ~20 s on the shared 2-core machine, --quick ~3 s, --smoke well under 1 s.
struct Sizes {
  int blocks = 20;
  int rtt_rounds = 2000;     // per block and kind
  int rate_calls = 20000;    // per block and kind, 64 in flight
  int warmup = 500;
};

std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

// ------------------------------------------------------------------ the deployment (3 nodes)

constexpr std::uint16_t kClient = 1, kForwarder = 2, kServer = 3;
constexpr std::uint16_t kAdderObject = 5, kCallerInstance = 7;
constexpr rpc::NodeName kNodes[] = {{kClient, "client"}, {kForwarder, "forwarder"}, {kServer, "server"}};
constexpr rpc::CallerName kCallers[] = {{kClient, kCallerInstance, "app@client"}};
constexpr node::RemoteGrant kAdderGrants[] = {{"app@client", node::Grant{~std::uint64_t{0}}}};

// The protected pair client -> server, as on the internet: sealed and encrypted (AEAD). A fixed
// benchmark key (its value does not change what a call costs); real nodes get theirs from the
// key store through <node>_keys.cc.
constexpr std::array<std::uint8_t, 32> bench_key() {
  std::array<std::uint8_t, 32> k{};
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::uint8_t>(0x5A ^ (i * 41));
  return k;
}
constexpr rpc::PeerKey kPairKeys[] = {{kClient, rpc::kAnyInstance, kServer, true, bench_key()}};

class AdderImpl final : public rpcbench::Adder {
 public:
  Task<std::uint32_t> add(std::uint32_t a, std::uint32_t b) override { co_return a + b; }
};
AdderImpl g_adder;

Task<Status> serve_adder(std::span<const std::byte> request, ambience::lidl::MessageBuffer& reply) {
  co_return co_await dispatch(static_cast<rpcbench::Adder&>(g_adder), request, reply);
}
const node::ServedObject kServed[] = {{kAdderObject, "adder", &serve_adder, kAdderGrants}};

// 64 calls in flight at the client, 64 requests executing or replies kept at the server,
// messages up to 1200 bytes (an add is ~60).
constexpr std::size_t kMaxMessage = 1200;
using BenchNode = rpc::StaticRpcNode<kInFlight + 8, kInFlight + 8, 256, 4, kMaxMessage, 8>;
using Reassembly = net::StaticReassembler<kMaxMessage + net::kSealOverhead, 4>;  // room for a seal
constexpr std::uint64_t kReplyAgeUs = 5'000'000;

std::unique_ptr<hosted::UdpLink> open_link() {
  hosted::UdpLinkOptions o;
  o.address = "127.0.0.1";
  o.receive_buffer_bytes = 1 << 20;
  std::string error;
  auto link = hosted::UdpLink::open(o, &error);
  if (!link.ok()) {
    std::fprintf(stderr, "rpc_bench: udp link: %s\n", error.c_str());
    std::exit(1);
  }
  return std::move(link.value());
}

void write_port(int fd, std::uint16_t port) { (void)!::write(fd, &port, sizeof port); }
std::uint16_t read_port(int fd) {
  std::uint16_t port = 0;
  if (::read(fd, &port, sizeof port) != sizeof port) {
    std::fprintf(stderr, "rpc_bench: a child died before it told its port\n");
    std::exit(1);
  }
  return port;
}

[[noreturn]] void server_child(int port_pipe, bool protect) {
  const rpc::RpcTables tables =
      protect ? rpc::RpcTables{kServer, kNodes, kCallers, kServed, {}, kPairKeys, rpc::Protection::required}
              : rpc::RpcTables{kServer, kNodes, kCallers, kServed, {}};
  auto n = std::make_unique<BenchNode>(tables, 0x33330001u, kReplyAgeUs);
  auto in = std::make_unique<Reassembly>(1'000'000);
  auto link = open_link();
  n->node().add_network("lo", "udp", *link, *in);
  write_port(port_pipe, link->local_port());
  Scheduler::current().run_until([] { return false; });
  std::exit(0);
}

// Requests arrive on "near" (from the client) and leave on "far" (to the server); replies the
// other way. The client's port is known only once the client opened its link: read from a pipe.
[[noreturn]] void forwarder_child(int port_pipe, int client_port_pipe, std::uint16_t server_port) {
  auto near_link = open_link();
  auto far_link = open_link();
  write_port(port_pipe, near_link->local_port());
  const std::uint16_t client_port = read_port(client_port_pipe);
  const node::NextHop hops[] = {{"server", {"far", "udp", "127.0.0.1", server_port, "server", 0}},
                                {"client", {"near", "udp", "127.0.0.1", client_port, "client", 0}}};
  auto n =
      std::make_unique<BenchNode>(rpc::RpcTables{kForwarder, kNodes, kCallers, {}, hops}, 0x22220001u, kReplyAgeUs);
  auto near_in = std::make_unique<Reassembly>(1'000'000);
  auto far_in = std::make_unique<Reassembly>(1'000'000);
  n->node().add_network("near", "udp", *near_link, *near_in);
  n->node().add_network("far", "udp", *far_link, *far_in);
  Scheduler::current().run_until([] { return false; });
  std::exit(0);
}

// The link alone, without the RPC layer: a UdpLink whose sink sends every frame back (the
// same loop, FdWatcher wake-ups and datagram sizes as a node, no envelope, call table or serving).
Task<void> send_copy(hosted::UdpLink& link, rpc::Peer to, net::LinkHeader h, std::vector<std::byte> payload) {
  (void)co_await link.send(to, h, payload);
}
struct LinkEcho final : rpc::FrameSink {
  hosted::UdpLink* link = nullptr;
  void on_frame(rpc::Peer from, const net::LinkFrame& f) override {
    (void)ambience::spawn(send_copy(*link, from, f.header, std::vector<std::byte>(f.payload.begin(), f.payload.end())));
  }
};
[[noreturn]] void link_echo_child(int port_pipe) {
  auto link = open_link();
  LinkEcho echo;
  echo.link = link.get();
  link->attach(&echo);
  write_port(port_pipe, link->local_port());
  Scheduler::current().run_until([] { return false; });
  std::exit(0);
}

// The baseline's other end: blocking recvfrom, sendto back, nothing else.
[[noreturn]] void raw_echo_child(int port_pipe) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int buffer_bytes = 1 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer_bytes, sizeof buffer_bytes);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  write_port(port_pipe, ntohs(a.sin_port));
  char buffer[2048];
  for (;;) {
    sockaddr_in from{};
    socklen_t from_len = sizeof from;
    const ssize_t n = ::recvfrom(fd, buffer, sizeof buffer, 0, reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n > 0) ::sendto(fd, buffer, static_cast<std::size_t>(n), 0, reinterpret_cast<sockaddr*>(&from), from_len);
  }
}

pid_t start_child(const std::function<void(int)>& body, std::uint16_t& port) {
  int p[2];
  if (::pipe(p) != 0) std::exit(1);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::close(p[0]);
    body(p[1]);
  }
  ::close(p[1]);
  port = read_port(p[0]);
  ::close(p[0]);
  return pid;
}

// ------------------------------------------------------------------ the baseline: plain UDP

class RawClient {
 public:
  RawClient(std::uint16_t port, std::size_t size) : buffer_(size, 'r') {
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    const int buffer_bytes = 1 << 20;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &buffer_bytes, sizeof buffer_bytes);
    to_.sin_family = AF_INET;
    to_.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to_.sin_port = htons(port);
  }
  ~RawClient() { ::close(fd_); }
  void send() { ::sendto(fd_, buffer_.data(), buffer_.size(), 0, reinterpret_cast<sockaddr*>(&to_), sizeof to_); }
  void receive() { ::recv(fd_, buffer_.data(), buffer_.size(), 0); }

  std::vector<double> round_trips_us(int rounds) {
    std::vector<double> out;
    out.reserve(static_cast<std::size_t>(rounds));
    for (int i = 0; i < rounds; ++i) {
      const std::uint64_t t0 = now_ns();
      send();
      receive();
      out.push_back(static_cast<double>(now_ns() - t0) * 1e-3);
    }
    return out;
  }
  // `calls` datagrams echoed with `in_flight` outstanding; returns datagrams per second.
  double rate(int calls, std::size_t in_flight) {
    const std::uint64_t t0 = now_ns();
    int sent = 0;
    for (std::size_t i = 0; i < in_flight && sent < calls; ++i, ++sent) send();
    for (int received = 0; received < calls; ++received) {
      receive();
      if (sent < calls) {
        send();
        ++sent;
      }
    }
    return static_cast<double>(calls) / (static_cast<double>(now_ns() - t0) * 1e-9);
  }

 private:
  int fd_ = -1;
  sockaddr_in to_{};
  std::vector<char> buffer_;
};

// ------------------------------------------------------------------ the link alone

struct FrameCounter final : rpc::FrameSink {
  std::size_t frames = 0;
  void on_frame(rpc::Peer, const net::LinkFrame&) override { ++frames; }
};

std::vector<double> link_round_trips_us(hosted::UdpLink& link, rpc::Peer to, std::size_t datagram, int rounds) {
  FrameCounter counter;
  link.attach(&counter);
  const std::size_t size = datagram - net::kLinkOverhead;
  const std::vector<std::byte> payload(size, std::byte{'l'});
  std::vector<double> out;
  out.reserve(static_cast<std::size_t>(rounds));
  for (int i = 0; i < rounds; ++i) {
    net::LinkHeader h;
    h.sequence = static_cast<std::uint16_t>(i);
    h.message_id = static_cast<std::uint16_t>(i);
    h.message_length = static_cast<std::uint32_t>(size);
    const std::size_t before = counter.frames;
    const std::uint64_t t0 = now_ns();
    (void)ambience::spawn(send_copy(link, to, h, payload));
    Scheduler::current().run_until([&] { return counter.frames > before; });
    out.push_back(static_cast<double>(now_ns() - t0) * 1e-3);
  }
  link.attach(nullptr);
  return out;
}

// ------------------------------------------------------------------ the crypto alone

// What the protected pair's cryptography costs one call, without the network: seal + open of a
// request and of its reply, bodies of the add's sizes, encrypt=true, in this process. Returns
// microseconds per call (mean of `calls`); false in *ok if a message did not open.
double crypto_us_per_call(std::size_t request_body, std::size_t reply_body, int calls, bool* ok) {
  std::vector<std::byte> message(net::sealed_message_size(std::max(request_body, reply_body)));
  std::vector<std::byte> plain(std::max(request_body, reply_body));
  const net::PairKey key = bench_key();
  const std::uint64_t t0 = now_ns();
  for (int i = 0; i < calls; ++i) {
    for (const bool request : {true, false}) {
      net::Envelope e;
      e.kind = request ? net::EnvelopeKind::request : net::EnvelopeKind::reply;
      e.call_id = static_cast<std::uint64_t>(i) + 1;
      e.sender_incarnation = request ? 0x11110002u : 0x33330001u;
      e.source_node = request ? kClient : kServer;
      e.destination_node = request ? kServer : kClient;
      e.caller_instance = kCallerInstance;
      e.target_instance = kAdderObject;
      const std::size_t body = request ? request_body : reply_body;
      std::fill_n(message.begin() + net::kSecureBodyAt, body, std::byte{0x2a});
      Result<std::size_t> n = net::seal(e, {static_cast<std::uint64_t>(i) + 1, 7}, true, key, message, body);
      net::DecodedEnvelope d;
      net::OpenedMessage o;
      if (!n.ok() || net::decode_envelope({message.data(), n.value()}, d) != net::EnvelopeError::none ||
          net::open(d, {message.data(), n.value()}, key, plain, o) != net::OpenError::none || o.body.size() != body) {
        *ok = false;
      }
    }
  }
  return static_cast<double>(now_ns() - t0) * 1e-3 / calls;
}

// ------------------------------------------------------------------ the client node

struct NodeTransport {
  rpc::RpcNode* node;
  node::Route route;
  Task<Status> call(std::span<const std::byte> request, ambience::lidl::MessageBuffer& reply) {
    return node->call(route, request, reply);
  }
};
using AdderClient = rpcbench::AdderRpcClient<NodeTransport>;

struct Caller {
  NodeTransport transport;
  ambience::lidl::HeapMessageBuffer request, reply;
  AdderClient client{transport, request, reply};
  explicit Caller(const NodeTransport& t) : transport(t) {}
};

struct Tally {
  std::uint64_t ok = 0, failed = 0;
  Status first_error = Status::ok;
  void count(const Result<std::uint32_t>& r, std::uint32_t expected) {
    if (r.ok() && r.value() == expected) {
      ++ok;
      return;
    }
    if (failed++ == 0) first_error = r.ok() ? Status::internal : r.status();
  }
};

Task<void> timed_calls(Caller* c, int rounds, std::vector<double>* out, Tally* tally, bool* done) {
  for (int i = 0; i < rounds; ++i) {
    const std::uint64_t t0 = now_ns();
    Result<std::uint32_t> r = co_await c->client.call_add(static_cast<std::uint32_t>(i), 1);
    out->push_back(static_cast<double>(now_ns() - t0) * 1e-3);
    tally->count(r, static_cast<std::uint32_t>(i) + 1);
  }
  *done = true;
}

// One of kInFlight callers: takes calls from the shared budget until it is spent; each call's
// latency (issue to reply, with the other callers' calls in flight) goes to `latencies`.
Task<void> rate_caller(Caller* c, int* budget, Tally* tally, std::size_t* finished, std::vector<double>* latencies) {
  while (*budget > 0) {
    --*budget;
    const auto a = static_cast<std::uint32_t>(*budget);
    const std::uint64_t t0 = now_ns();
    Result<std::uint32_t> r = co_await c->client.call_add(a, 2);
    latencies->push_back(static_cast<double>(now_ns() - t0) * 1e-3);
    tally->count(r, a + 2);
  }
  ++*finished;
}

std::vector<double> rpc_round_trips_us(Caller& c, int rounds, Tally& tally) {
  std::vector<double> out;
  out.reserve(static_cast<std::size_t>(rounds));
  bool done = false;
  (void)ambience::spawn(timed_calls(&c, rounds, &out, &tally, &done));
  Scheduler::current().run_until([&] { return done; });
  return out;
}

double rpc_rate(std::vector<std::unique_ptr<Caller>>& callers, int calls, Tally& tally,
                std::vector<double>& latencies) {
  int budget = calls;
  std::size_t finished = 0;
  const std::uint64_t t0 = now_ns();
  for (auto& c : callers) (void)ambience::spawn(rate_caller(c.get(), &budget, &tally, &finished, &latencies));
  Scheduler::current().run_until([&] { return finished == callers.size(); });
  return static_cast<double>(calls) / (static_cast<double>(now_ns() - t0) * 1e-9);
}

struct Summary {
  double median, p99;
};
Summary summarize(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v[std::min(v.size() - 1, v.size() * 99 / 100)]};
}
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
// Calls per second of one caller making its calls one after another: rounds / their total time.
double sequential_rate(const std::vector<double>& us) {
  double total = 0;
  for (double u : us) total += u;
  return static_cast<double>(us.size()) / (total * 1e-6);
}

// Voluntary context switches of this process (every thread): how often it slept waiting.
long voluntary_switches() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return u.ru_nvcsw;
}

void result(const char* id, double value, const char* unit, double baseline, double ratio) {
  std::printf("RESULT %s value=%.4g unit=%s", id, value, unit);
  std::printf(" baseline=%.4g ratio=%.4g\n", baseline, ratio);
}

}  // namespace

int main(int argc, char** argv) {
  Sizes sizes;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--quick") sizes = Sizes{5, 800, 8000, 300};
    else if (a == "--smoke") sizes = Sizes{2, 50, 500, 20};
    else {
      std::fprintf(stderr, "usage: rpc_bench [--quick | --smoke]\n");
      return 2;
    }
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  signal(SIGPIPE, SIG_IGN);

  // Children first: this process has no thread and no watcher yet (fork copies only the caller).
  std::uint16_t server_port = 0, protected_server_port = 0, forwarder_port = 0, raw_port = 0, link_echo_port = 0;
  int client_port_pipe[2];
  if (::pipe(client_port_pipe) != 0) return 1;
  const pid_t server = start_child([](int p) { server_child(p, false); }, server_port);
  const pid_t protected_server = start_child([](int p) { server_child(p, true); }, protected_server_port);
  const pid_t forwarder = start_child(
      [&](int p) {
        ::close(client_port_pipe[1]);
        forwarder_child(p, client_port_pipe[0], server_port);
      },
      forwarder_port);
  const pid_t raw = start_child([](int p) { raw_echo_child(p); }, raw_port);
  const pid_t link_echo = start_child([](int p) { link_echo_child(p); }, link_echo_port);
  ::close(client_port_pipe[0]);

  auto client_node =
      std::make_unique<BenchNode>(rpc::RpcTables{kClient, kNodes, kCallers, {}, {}}, 0x11110001u, kReplyAgeUs);
  auto client_in = std::make_unique<Reassembly>(1'000'000);
  auto link = open_link();
  client_node->node().add_network("lo", "udp", *link, *client_in);
  write_port(client_port_pipe[1], link->local_port());
  ::close(client_port_pipe[1]);
  rpc::RpcNode& rn = client_node->node();
  // The protected client: the same node, with the pair key, sealing every request.
  auto protected_node = std::make_unique<BenchNode>(
      rpc::RpcTables{kClient, kNodes, kCallers, {}, {}, kPairKeys, rpc::Protection::required}, 0x11110002u,
      kReplyAgeUs);
  auto protected_in = std::make_unique<Reassembly>(1'000'000);
  auto protected_link = open_link();
  protected_node->node().add_network("lo", "udp", *protected_link, *protected_in);

  const NodeTransport direct{&rn, {"lo", "udp", "127.0.0.1", server_port, "server", kAdderObject, kCallerInstance}};
  const NodeTransport forwarded{&rn,
                                {"lo", "udp", "127.0.0.1", forwarder_port, "server", kAdderObject, kCallerInstance}};
  const NodeTransport sealed{
      &protected_node->node(),
      {"lo", "udp", "127.0.0.1", protected_server_port, "server", kAdderObject, kCallerInstance}};
  Caller direct_caller(direct), forwarded_caller(forwarded), sealed_caller(sealed);
  std::vector<std::unique_ptr<Caller>> callers, sealed_callers;
  for (std::size_t i = 0; i < kInFlight; ++i) callers.push_back(std::make_unique<Caller>(direct));
  for (std::size_t i = 0; i < kInFlight; ++i) sealed_callers.push_back(std::make_unique<Caller>(sealed));

  Tally tally;
  // Warm-up, and the size of one request datagram on the wire (the baseline sends that many bytes).
  rpc_round_trips_us(direct_caller, sizes.warmup, tally);
  rpc_round_trips_us(forwarded_caller, sizes.warmup, tally);
  // The protected pair's first call is answered resync and re-sealed (one more round trip): the
  // warm-up opens the session, so every timed call runs in it.
  rpc_round_trips_us(sealed_caller, sizes.warmup, tally);
  const std::size_t datagram = static_cast<std::size_t>(link->counters().bytes_sent / link->counters().frames_sent);
  // The session's opening probe is smaller (no body): size the sealed request on calls within it.
  const auto sealed_bytes = protected_link->counters().bytes_sent;
  const auto sealed_frames = protected_link->counters().frames_sent;
  rpc_round_trips_us(sealed_caller, 8, tally);
  const std::size_t sealed_datagram =
      static_cast<std::size_t>((protected_link->counters().bytes_sent - sealed_bytes) /
                               (protected_link->counters().frames_sent - sealed_frames));
  RawClient raw_client(raw_port, datagram);
  raw_client.round_trips_us(sizes.warmup);
  auto probe_link = open_link();
  Result<rpc::Peer> link_echo_peer = probe_link->resolve("127.0.0.1", link_echo_port);
  if (!link_echo_peer.ok()) return 1;
  link_round_trips_us(*probe_link, link_echo_peer.value(), datagram, sizes.warmup);

  std::printf(
      "method: client, server, forwarder and plain echo are 4 processes on 127.0.0.1 (fork, each its own loop);\n"
      "  rpc = generated AdderRpcClient::call_add -> RpcNode::call(route) -> UdpLink -> server RpcNode ->\n"
      "        node::serve(ServedObject, grant check) -> dispatch -> reply; one %zu-byte datagram each way\n"
      "  raw = blocking sendto/recv of %zu bytes to a plain C echo process (baseline)\n"
      "  link = a UdpLink frame of the same size echoed by a UdpLink in another process (loop + FdWatcher\n"
      "         wake-ups on both sides, no RPC layer): where the RPC round trip's time goes\n"
      "  forwarded = client -> forwarder node (two UdpLinks, next hops) -> server, 2 datagrams each way\n"
      "  protected = the rpc path between a second client node and a second server node, both\n"
      "         Protection::required with the pair key, encrypt=true (tag + XChaCha20-Poly1305, as on the\n"
      "         internet): %zu-byte datagrams; baseline = rpc (Protection::off, no keys)\n"
      "  %d interleaved blocks (rpc and protected alternate which goes first): RTT %d rounds per kind and\n"
      "  block; rate %d calls per kind and block, %zu in flight (%zu coroutine callers vs %zu outstanding\n"
      "  datagrams); after %d warm-up rounds. Medians over all rounds (RTT, latency at %zu in flight) or\n"
      "  over blocks (rates; 1 in flight: a block's rounds / their total time).\n",
      datagram, datagram, sealed_datagram, sizes.blocks, sizes.rtt_rounds, sizes.rate_calls, kInFlight, kInFlight,
      kInFlight, sizes.warmup, kInFlight);

  std::vector<double> link_us, raw_us, rpc_us, fwd_us, raw_rate, rpc_rate_per_s;
  std::vector<double> sealed_us, rpc_seq_rate, sealed_seq_rate, sealed_rate_per_s, rpc_lat64, sealed_lat64;
  std::vector<double> crypto_us;
  bool crypto_ok = true;
  // The add's lidl messages (request and reply bodies), from what the unprotected client's link carried.
  const std::size_t request_body = datagram - net::kLinkOverhead - net::kEnvelopeSize;
  const std::size_t reply_body =
      static_cast<std::size_t>(link->counters().bytes_received / link->counters().frames_received) -
      net::kLinkOverhead - net::kEnvelopeSize;
  long raw_sleeps = 0, rpc_sleeps = 0, link_sleeps = 0;
  const std::uint64_t t_start = now_ns();
  for (int block = 0; block < sizes.blocks; ++block) {
    long s0 = voluntary_switches();
    const std::vector<double> r = raw_client.round_trips_us(sizes.rtt_rounds);
    raw_sleeps += voluntary_switches() - s0;
    // Protected and unprotected alternate which goes first, so neither always follows the same kind.
    std::vector<double> p;
    if (block % 2 == 1) p = rpc_round_trips_us(sealed_caller, sizes.rtt_rounds, tally);
    const long s1 = voluntary_switches();
    const std::vector<double> d = rpc_round_trips_us(direct_caller, sizes.rtt_rounds, tally);
    rpc_sleeps += voluntary_switches() - s1;
    if (block % 2 == 0) p = rpc_round_trips_us(sealed_caller, sizes.rtt_rounds, tally);
    const std::vector<double> f = rpc_round_trips_us(forwarded_caller, sizes.rtt_rounds, tally);
    s0 = voluntary_switches();
    const std::vector<double> l = link_round_trips_us(*probe_link, link_echo_peer.value(), datagram, sizes.rtt_rounds);
    link_sleeps += voluntary_switches() - s0;
    link_us.insert(link_us.end(), l.begin(), l.end());
    raw_us.insert(raw_us.end(), r.begin(), r.end());
    rpc_us.insert(rpc_us.end(), d.begin(), d.end());
    fwd_us.insert(fwd_us.end(), f.begin(), f.end());
    sealed_us.insert(sealed_us.end(), p.begin(), p.end());
    crypto_us.push_back(crypto_us_per_call(request_body, reply_body, sizes.rtt_rounds, &crypto_ok));
    rpc_seq_rate.push_back(sequential_rate(d));
    sealed_seq_rate.push_back(sequential_rate(p));
    raw_rate.push_back(raw_client.rate(sizes.rate_calls, kInFlight));
    if (block % 2 == 1) sealed_rate_per_s.push_back(rpc_rate(sealed_callers, sizes.rate_calls, tally, sealed_lat64));
    rpc_rate_per_s.push_back(rpc_rate(callers, sizes.rate_calls, tally, rpc_lat64));
    if (block % 2 == 0) sealed_rate_per_s.push_back(rpc_rate(sealed_callers, sizes.rate_calls, tally, sealed_lat64));
  }
  const double seconds = static_cast<double>(now_ns() - t_start) * 1e-9;

  const Summary link_s = summarize(link_us);
  const Summary raw_s = summarize(raw_us), rpc_s = summarize(rpc_us), fwd_s = summarize(fwd_us);
  const double raw_r = median(raw_rate), rpc_r = median(rpc_rate_per_s);
  std::printf("\n%-34s %12s %12s\n", "round trip (us)", "median", "p99");
  std::printf("%-34s %12.1f %12.1f\n", "raw UDP echo (baseline)", raw_s.median, raw_s.p99);
  std::printf("%-34s %12.1f %12.1f\n", "UdpLink echo, no RPC layer", link_s.median, link_s.p99);
  std::printf("%-34s %12.1f %12.1f\n", "rpc direct", rpc_s.median, rpc_s.p99);
  std::printf("%-34s %12.1f %12.1f\n", "rpc via forwarder", fwd_s.median, fwd_s.p99);
  const Summary sealed_s = summarize(sealed_us);
  std::printf("%-34s %12.1f %12.1f\n", "rpc protected (AEAD)", sealed_s.median, sealed_s.p99);
  const double rounds = static_cast<double>(sizes.blocks) * sizes.rtt_rounds;
  std::printf("voluntary context switches of this process per round trip: raw %.2f, link %.2f, rpc %.2f\n",
              static_cast<double>(raw_sleeps) / rounds, static_cast<double>(link_sleeps) / rounds,
              static_cast<double>(rpc_sleeps) / rounds);
  std::printf("\n%-34s %12s\n", "rate, 64 in flight (per s)", "median");
  std::printf("%-34s %12.0f\n", "raw UDP echo (baseline)", raw_r);
  std::printf("%-34s %12.0f\n", "rpc direct", rpc_r);
  const double sealed_r = median(sealed_rate_per_s);
  std::printf("%-34s %12.0f\n", "rpc protected (AEAD)", sealed_r);

  // Protected vs unprotected, the figures of the security issue.
  const double rpc_r1 = median(rpc_seq_rate), sealed_r1 = median(sealed_seq_rate);
  const double rpc_l64 = median(rpc_lat64), sealed_l64 = median(sealed_lat64);
  std::printf("\n%-34s %12s %12s %8s\n", "protected vs unprotected", "unprotected", "protected", "ratio");
  std::printf("%-34s %12.1f %12.1f %8.3f\n", "p50 round trip, 1 in flight (us)", rpc_s.median, sealed_s.median,
              sealed_s.median / rpc_s.median);
  std::printf("%-34s %12.1f %12.1f %8.3f\n", "p99 round trip, 1 in flight (us)", rpc_s.p99, sealed_s.p99,
              sealed_s.p99 / rpc_s.p99);
  std::printf("%-34s %12.0f %12.0f %8.3f\n", "calls/s, 1 in flight", rpc_r1, sealed_r1, sealed_r1 / rpc_r1);
  std::printf("%-34s %12.1f %12.1f %8.3f\n", "p50 latency, 64 in flight (us)", rpc_l64, sealed_l64,
              sealed_l64 / rpc_l64);
  std::printf("%-34s %12.0f %12.0f %8.3f\n", "calls/s, 64 in flight", rpc_r, sealed_r, sealed_r / rpc_r);
  const rpc::RpcCounters& pc = protected_node->node().counters();
  // Every protected request on the wire carries the security block and the tag; any refusal at
  // the client (a reply that did not verify, or came in plain) fails the run.
  const bool sealed_ok = sealed_datagram == datagram + net::kSealOverhead && pc.auth_failures == 0 &&
                         pc.unauthenticated == 0 && pc.replays == 0 && crypto_ok;
  const double crypto = median(crypto_us);
  std::printf(
      "crypto alone (seal + open of a %zu-byte request and a %zu-byte reply, AEAD, this process): %.2f us "
      "per call; protected - unprotected p50: %.2f us\n",
      request_body, reply_body, crypto, sealed_s.median - rpc_s.median);
  std::printf(
      "protected client: request datagram %zu B (unprotected %zu + seal %zu), auth failures %u, "
      "unauthenticated %u%s\n",
      sealed_datagram, datagram, net::kSealOverhead, pc.auth_failures, pc.unauthenticated,
      sealed_ok ? "" : "  <- NOT PROTECTED AS CONFIGURED");
  std::printf("\nmeasured for %.1f s; calls ok %llu failed %llu", seconds, static_cast<unsigned long long>(tally.ok),
              static_cast<unsigned long long>(tally.failed));
  if (tally.failed != 0) std::printf(" (first: %s)", ambience::to_string(tally.first_error));
  std::printf("\nclient link: frames sent %llu received %llu dropped %llu send errors %llu\n\n",
              static_cast<unsigned long long>(link->counters().frames_sent),
              static_cast<unsigned long long>(link->counters().frames_received),
              static_cast<unsigned long long>(link->counters().frames_dropped),
              static_cast<unsigned long long>(link->counters().send_errors));

  result("rpc_rtt_median_us", rpc_s.median, "us", raw_s.median, rpc_s.median / raw_s.median);
  result("rpc_rtt_p99_us", rpc_s.p99, "us", raw_s.p99, rpc_s.p99 / raw_s.p99);
  result("rpc_link_only_rtt_median_us", link_s.median, "us", raw_s.median, link_s.median / raw_s.median);
  result("rpc_calls_per_s_64_in_flight", rpc_r, "calls/s", raw_r, rpc_r / raw_r);
  result("rpc_forwarded_rtt_median_us", fwd_s.median, "us", rpc_s.median, fwd_s.median / rpc_s.median);
  result("rpc_forwarded_rtt_p99_us", fwd_s.p99, "us", rpc_s.p99, fwd_s.p99 / rpc_s.p99);
  result("rpc_forwarder_us_per_hop", fwd_s.median - rpc_s.median, "us", raw_s.median,
         (fwd_s.median - rpc_s.median) / raw_s.median);
  // The protected figures: value = protected, baseline = unprotected, the ratio is the figure.
  result("rpc_protected_rtt_ratio", sealed_s.median, "us", rpc_s.median, sealed_s.median / rpc_s.median);
  result("rpc_protected_rtt_p99_ratio", sealed_s.p99, "us", rpc_s.p99, sealed_s.p99 / rpc_s.p99);
  result("rpc_protected_calls_per_s_ratio", sealed_r1, "calls/s", rpc_r1, sealed_r1 / rpc_r1);
  result("rpc_protected_latency_p50_64_in_flight_ratio", sealed_l64, "us", rpc_l64, sealed_l64 / rpc_l64);
  result("rpc_protected_calls_per_s_64_in_flight_ratio", sealed_r, "calls/s", rpc_r, sealed_r / rpc_r);
  result("rpc_protected_crypto_us_per_call", crypto, "us", sealed_s.median, crypto / sealed_s.median);

  for (pid_t pid : {server, protected_server, forwarder, raw, link_echo}) ::kill(pid, SIGKILL);
  for (pid_t pid : {server, protected_server, forwarder, raw, link_echo}) ::waitpid(pid, nullptr, 0);
  return tally.failed == 0 && sealed_ok ? 0 : 1;
}
