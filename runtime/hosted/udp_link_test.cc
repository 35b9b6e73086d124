// UdpLink over real loopback sockets, driven by the real loop (Scheduler::run_until and, for the
// wake-up test, a started hosted Node sleeping on its shared futex).
#include "runtime/hosted/udp_link.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "kernel/arch/hosted_linux/node.hpp"
#include "kernel/core/arch.hpp"
#include "kernel/core/console.hpp"
#include "kernel/core/scheduler.hpp"
#include "kernel/core/task.hpp"
#include "kernel/net/crc32.hpp"
#include "kernel/net/datagram.hpp"
#include "kernel/testing/test.hpp"

namespace {

using ambience::Result;
using ambience::Runnable;
using ambience::Scheduler;
using ambience::Status;
using ambience::Task;
using ambience::Timer;
using ambience::hosted::parse_udp_map;
using ambience::hosted::resolve_udp_address;
using ambience::hosted::UdpLink;
using ambience::hosted::UdpLinkOptions;
using ambience::hosted::UdpMap;
using ambience::net::LinkError;
using ambience::net::LinkFrame;
using ambience::net::LinkHeader;
using ambience::rpc::Peer;

std::vector<std::byte> bytes_of(const std::string& s) {
  std::vector<std::byte> out(s.size());
  if (!s.empty()) std::memcpy(out.data(), s.data(), s.size());
  return out;
}

std::string string_of(std::span<const std::byte> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

LinkHeader single_frame(std::uint16_t sequence, std::size_t size) {
  LinkHeader h;
  h.sequence = sequence;
  h.message_id = sequence;
  h.message_length = static_cast<std::uint32_t>(size);
  return h;
}

// Runs the loop until `done()` or `timeout_us` passed (a timer makes the loop wake for it).
template <class Done>
bool run_for(Done done, std::uint64_t timeout_us) {
  const std::uint64_t until = ambience::arch::now_us() + timeout_us;
  Runnable tick;
  tick.run = [](Runnable*) {};
  Timer timer;
  timer.deadline_us = until;
  timer.on_expiry = &tick;
  Scheduler::current().arm(timer);
  Scheduler::current().run_until([&] { return done() || ambience::arch::now_us() >= until; });
  Scheduler::current().cancel(timer);
  while (tick.queued) Scheduler::current().run_ready();
  return done();
}

Task<void> send_task(UdpLink& link, Peer to, LinkHeader h, std::vector<std::byte> payload, Status* out) {
  *out = co_await link.send(to, h, payload);
}

Status send_now(UdpLink& link, Peer to, std::uint16_t sequence, const std::vector<std::byte>& payload) {
  Status st = Status::internal;
  if (ambience::spawn(send_task(link, to, single_frame(sequence, payload.size()), payload, &st)) != Status::ok) {
    return Status::no_memory;
  }
  Scheduler::current().run_ready();
  return st;
}

// Records what arrived; optionally echoes every frame back to its sender (prefixed "re:").
struct Recorder : ambience::rpc::FrameSink {
  UdpLink* link = nullptr;
  bool echo = false;
  std::vector<std::string> payloads;
  std::vector<Peer> from;
  std::vector<std::uint64_t> at_us;
  Status last_echo = Status::ok;
  void on_frame(Peer peer, const LinkFrame& frame) override {
    payloads.push_back(string_of(frame.payload));
    from.push_back(peer);
    at_us.push_back(ambience::arch::now_us());
    if (echo) {
      ambience::spawn(send_task(*link, peer, single_frame(frame.header.sequence, frame.payload.size() + 3),
                                bytes_of("re:" + string_of(frame.payload)), &last_echo));
    }
  }
};

std::unique_ptr<UdpLink> open_loopback(std::size_t max_peers = 32) {
  UdpLinkOptions o;
  o.address = "127.0.0.1";
  o.port = 0;
  o.max_peers = max_peers;
  std::string error;
  Result<std::unique_ptr<UdpLink>> link = UdpLink::open(o, &error);
  if (!link.ok()) {
    ambience::println("  open: ", error.c_str());
    return nullptr;
  }
  return std::move(link.value());
}

// A plain socket: what a foreign or broken sender puts on the wire.
struct RawSocket {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ~RawSocket() { ::close(fd); }
  bool send_to(std::uint16_t port, const void* data, std::size_t size) const {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return ::sendto(fd, data, size, 0, reinterpret_cast<sockaddr*>(&a), sizeof a) == static_cast<ssize_t>(size);
  }
};

std::vector<std::byte> encoded(std::uint16_t sequence, const std::string& text) {
  std::vector<std::byte> out(ambience::net::datagram_size(text.size()));
  const std::vector<std::byte> payload = bytes_of(text);
  Result<std::size_t> n = ambience::net::encode_datagram(single_frame(sequence, text.size()), payload, out);
  out.resize(n.ok() ? n.value() : 0);
  return out;
}

std::uint16_t free_udp_port() {
  RawSocket s;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(s.fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(s.fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

AMBIENCE_TEST(address_map_parses_and_names_bad_entries) {
  std::string error;
  Result<UdpMap> map = parse_udp_map("10.0.0.2:7000=127.0.0.1:41000,cloud:7000=127.0.0.1:41001", &error);
  CHECK(map.ok());
  if (!map.ok()) return;
  CHECK_EQ(map->entries.size(), std::size_t{2});
  CHECK(map->entries[1].address == "cloud");
  CHECK_EQ(map->entries[1].host_port, 41001);

  Result<sockaddr_in> a = resolve_udp_address(*map, "cloud", 7000);
  CHECK(a.ok() && ntohs(a->sin_port) == 41001 && ntohl(a->sin_addr.s_addr) == INADDR_LOOPBACK);
  a = resolve_udp_address(*map, "10.0.0.2", 7000);
  CHECK(a.ok() && ntohs(a->sin_port) == 41000);
  // Not in the map: an IPv4 literal is used as is, a name is not found (no DNS).
  a = resolve_udp_address(*map, "10.0.0.3", 7001);
  CHECK(a.ok() && ntohs(a->sin_port) == 7001 && a->sin_addr.s_addr == inet_addr("10.0.0.3"));
  CHECK(resolve_udp_address(*map, "cloud", 7001).status() == Status::not_found);
  CHECK(resolve_udp_address(*map, "edge", 7000).status() == Status::not_found);
  CHECK(resolve_udp_address(*map, "10.0.0.256", 7000).status() == Status::not_found);

  Result<UdpMap> empty = parse_udp_map("");
  CHECK(empty.ok() && empty->entries.empty());

  struct Bad {
    const char* text;
    const char* error;
  };
  const Bad bad[] = {
      {"cloud:7000=127.0.0.1:1,edge:7000=localhost:7000",
       "--udp-map entry 2 \"edge:7000=localhost:7000\": host \"localhost\" is not an IPv4 address"},
      {"cloud:7000", "--udp-map entry 1 \"cloud:7000\": expected ADDR:PORT=HOST:PORT"},
      {"cloud:7000=127.0.0.1:1=2", "--udp-map entry 1 \"cloud:7000=127.0.0.1:1=2\": expected ADDR:PORT=HOST:PORT"},
      {"cloud=127.0.0.1:1", "--udp-map entry 1 \"cloud=127.0.0.1:1\": plan endpoint has no :PORT"},
      {"cloud:1=127.0.0.1", "--udp-map entry 1 \"cloud:1=127.0.0.1\": host endpoint has no :PORT"},
      {"cloud:0=127.0.0.1:1", "--udp-map entry 1 \"cloud:0=127.0.0.1:1\": plan port \"0\" is not 1..65535"},
      {"cloud:1=127.0.0.1:65536", "--udp-map entry 1 \"cloud:1=127.0.0.1:65536\": host port \"65536\" is not 1..65535"},
      {"cl oud:1=127.0.0.1:2",
       "--udp-map entry 1 \"cl oud:1=127.0.0.1:2\": plan address \"cl oud\" is not a name or IPv4 address"},
      {"a:1=127.0.0.1:2,", "--udp-map entry 2 \"\": empty entry"},
      {"a:1=127.0.0.1:2,a:1=127.0.0.1:3", "--udp-map entry 2 \"a:1=127.0.0.1:3\": plan endpoint mapped twice"},
  };
  for (const Bad& b : bad) {
    error.clear();
    const Result<UdpMap> r = parse_udp_map(b.text, &error);
    CHECK(r.status() == Status::bad_message);
    if (error != b.error) ambience::println("  got: ", error.c_str());
    CHECK(error == b.error);
  }
}

AMBIENCE_TEST(udp_map_argument_is_found_in_either_form) {
  char prog[] = "node", flag[] = "--udp-map", v1[] = "a:1=127.0.0.1:2", other[] = "--serial", sv[] = "n=/dev/pts/3",
       joined[] = "--udp-map=b:1=127.0.0.1:3", lone[] = "--udp-map";
  char* both[] = {prog, flag, v1, other, sv, joined};
  CHECK(ambience::hosted::udp_map_argument(6, both) == "b:1=127.0.0.1:3");
  char* spaced[] = {prog, other, sv, flag, v1};
  CHECK(ambience::hosted::udp_map_argument(5, spaced) == "a:1=127.0.0.1:2");
  char* none[] = {prog, other, sv, lone};
  CHECK(ambience::hosted::udp_map_argument(4, none).empty());
}

// Both directions through the loop; B never resolves A: it replies to the peer it heard from.
AMBIENCE_TEST(two_links_exchange_frames_and_reply_to_first_heard_peer) {
  auto a = open_loopback();
  auto b = open_loopback();
  CHECK(a != nullptr && b != nullptr);
  if (a == nullptr || b == nullptr) return;
  Recorder at_a, at_b;
  at_b.link = b.get();
  at_b.echo = true;
  a->attach(&at_a);
  b->attach(&at_b);
  CHECK_EQ(a->max_fragment(), std::size_t{1450});

  Result<Peer> to_b = a->resolve("127.0.0.1", b->local_port());
  CHECK(to_b.ok());
  // The largest payload whose echo ("re:" + it) still fits one frame.
  const std::string big(a->max_fragment() - 3, 'x');
  const std::vector<std::string> sent = {"hello", "", big};
  for (std::size_t i = 0; i < sent.size(); ++i) {
    CHECK(send_now(*a, *to_b, static_cast<std::uint16_t>(i), bytes_of(sent[i])) == Status::ok);
  }
  CHECK(run_for([&] { return at_a.payloads.size() == sent.size(); }, 3'000'000));
  CHECK_EQ(at_b.payloads.size(), sent.size());
  CHECK_EQ(at_a.payloads.size(), sent.size());
  for (std::size_t i = 0; i < sent.size() && i < at_b.payloads.size() && i < at_a.payloads.size(); ++i) {
    CHECK(at_b.payloads[i] == sent[i]);
    CHECK(at_a.payloads[i] == "re:" + sent[i]);
  }
  CHECK(at_b.last_echo == Status::ok);
  // One byte more than a frame carries is refused before anything is sent.
  CHECK(send_now(*a, *to_b, 9, bytes_of(std::string(a->max_fragment() + 1, 'y'))) == Status::no_memory);
  CHECK(send_now(*a, Peer{7}, 9, bytes_of("nobody")) == Status::not_found);
  CHECK_EQ(b->peers(), std::size_t{1});
  const sockaddr_in* back = b->peer_address(Peer{0});
  CHECK(back != nullptr && ntohs(back->sin_port) == a->local_port());
  CHECK_EQ(a->counters().frames_sent, std::uint64_t{3});
  CHECK_EQ(b->counters().frames_received, std::uint64_t{3});
  CHECK_EQ(b->counters().frames_dropped, std::uint64_t{0});
  CHECK_EQ(a->peer_sequence(*to_b)->frames_missed, 0u);
}

// Garbage from a raw socket is dropped and counted by reason; the link goes on working, and the
// garbage's sender never enters the peer table (only frames that decode do).
AMBIENCE_TEST(corrupted_datagrams_are_dropped_and_counted) {
  auto a = open_loopback();
  auto b = open_loopback();
  CHECK(a != nullptr && b != nullptr);
  if (a == nullptr || b == nullptr) return;
  Recorder at_b;
  b->attach(&at_b);
  RawSocket raw;
  std::vector<std::byte> flipped = encoded(1, "payload that gets one bit flipped");
  flipped[20] ^= std::byte{0x04};
  CHECK(raw.send_to(b->local_port(), flipped.data(), flipped.size()));
  CHECK(raw.send_to(b->local_port(), "short", 5));
  const std::vector<std::byte> oversize(2000, std::byte{0x55});
  CHECK(raw.send_to(b->local_port(), oversize.data(), oversize.size()));
  std::vector<std::byte> bad_version = encoded(2, "v2");
  bad_version[0] = std::byte{2};  // CRC fixed below: a well-formed frame of another version
  {
    const std::uint32_t crc = ambience::net::crc32({bad_version.data(), bad_version.size() - 4});
    std::memcpy(bad_version.data() + bad_version.size() - 4, &crc, 4);
  }
  CHECK(raw.send_to(b->local_port(), bad_version.data(), bad_version.size()));
  Result<Peer> to_b = a->resolve("127.0.0.1", b->local_port());
  CHECK(to_b.ok() && send_now(*a, *to_b, 3, bytes_of("after the garbage")) == Status::ok);

  CHECK(run_for([&] { return at_b.payloads.size() == 1 && b->counters().frames_dropped == 4; }, 3'000'000));
  CHECK_EQ(at_b.payloads.size(), std::size_t{1});
  CHECK(!at_b.payloads.empty() && at_b.payloads[0] == "after the garbage");
  CHECK_EQ(b->counters().frames_dropped, std::uint64_t{4});
  CHECK_EQ(b->stats().drops_by_reason[static_cast<int>(LinkError::crc_mismatch)], std::uint64_t{1});
  CHECK_EQ(b->stats().drops_by_reason[static_cast<int>(LinkError::too_short)], std::uint64_t{1});
  CHECK_EQ(b->stats().drops_by_reason[static_cast<int>(LinkError::bad_version)], std::uint64_t{1});
  CHECK_EQ(b->stats().oversize, std::uint64_t{1});
  CHECK_EQ(b->peers(), std::size_t{1});
  CHECK_EQ(b->counters().frames_received, std::uint64_t{1});
}

// A node bound through the map under a plan host name; another node reaches it by that name.
AMBIENCE_TEST(nodes_bind_and_resolve_through_the_map) {
  const std::uint16_t port = free_udp_port();
  std::string error;
  Result<UdpMap> map = parse_udp_map("cloud:7000=127.0.0.1:" + std::to_string(port), &error);
  CHECK(map.ok());
  if (!map.ok()) return;
  UdpLinkOptions o;
  o.address = "cloud";
  o.port = 7000;
  o.map = &*map;
  Result<std::unique_ptr<UdpLink>> cloud = UdpLink::open(o, &error);
  CHECK(cloud.ok());
  if (!cloud.ok()) {
    ambience::println("  ", error.c_str());
    return;
  }
  CHECK_EQ((*cloud)->local_port(), port);
  o.address = "edge";  // not in the map, not an address
  CHECK(UdpLink::open(o, &error).status() == Status::not_found);
  CHECK(error.find("edge:7000") != std::string::npos);

  UdpLinkOptions eo;
  eo.address = "127.0.0.1";
  eo.map = &*map;
  eo.max_peers = 2;
  Result<std::unique_ptr<UdpLink>> edge = UdpLink::open(eo);
  CHECK(edge.ok());
  if (!edge.ok()) return;
  Recorder at_cloud;
  (*cloud)->attach(&at_cloud);
  Result<Peer> to_cloud = (*edge)->resolve("cloud", 7000);
  CHECK(to_cloud.ok());
  CHECK((*edge)->resolve("cloud", 7000).value() == to_cloud.value());  // one entry per address
  CHECK((*edge)->resolve("cloud", 7001).status() == Status::not_found);
  CHECK(to_cloud.ok() && send_now(**edge, *to_cloud, 1, bytes_of("via the map")) == Status::ok);
  CHECK(run_for([&] { return at_cloud.payloads.size() == 1; }, 3'000'000));
  CHECK(!at_cloud.payloads.empty() && at_cloud.payloads[0] == "via the map");
  // The peer table is bounded.
  CHECK((*edge)->resolve("10.1.1.1", 1).ok());
  CHECK((*edge)->resolve("10.1.1.2", 1).status() == Status::no_memory);
}

// More datagrams than one poll() takes: the watch fires again until the socket is empty.
AMBIENCE_TEST(a_burst_larger_than_the_poll_budget_arrives_whole) {
  auto a = open_loopback();
  auto b = open_loopback();
  CHECK(a != nullptr && b != nullptr);
  if (a == nullptr || b == nullptr) return;
  Recorder at_b;
  b->attach(&at_b);
  Result<Peer> to_b = a->resolve("127.0.0.1", b->local_port());
  constexpr int kFrames = 200;
  for (int i = 0; i < kFrames; ++i) {
    CHECK(send_now(*a, *to_b, static_cast<std::uint16_t>(i), bytes_of("frame " + std::to_string(i))) == Status::ok);
  }
  CHECK(run_for([&] { return at_b.payloads.size() == kFrames; }, 3'000'000));
  CHECK_EQ(at_b.payloads.size(), std::size_t{kFrames});
  CHECK(b->stats().polls >= 4);  // 200 / 64 per poll
  CHECK_EQ(b->peer_sequence(Peer{0})->frames_missed, 0u);
}

double cpu_seconds_self() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// The supervisor loop of a started node, asleep on its shared futex, is woken by a datagram
// and delivers it within a bounded time; while it waited it used no CPU.
AMBIENCE_TEST(a_datagram_wakes_the_sleeping_supervisor_loop) {
  ambience::hosted::Node node;
  CHECK(node.start() == Status::ok);
  auto b = open_loopback();
  CHECK(b != nullptr);
  if (b == nullptr) return;
  Recorder at_b;
  b->attach(&at_b);
  const std::uint64_t sleeps0 = node.idle_hook().sleeps;
  const double cpu0 = cpu_seconds_self();
  std::atomic<std::uint64_t> sent_at{0};
  const std::uint16_t port = b->local_port();
  std::thread sender([&] {
    ::usleep(300'000);
    RawSocket raw;
    const std::vector<std::byte> frame = encoded(1, "wake up");
    sent_at.store(ambience::arch::now_us());
    raw.send_to(port, frame.data(), frame.size());
  });
  const bool arrived = run_for([&] { return !at_b.payloads.empty(); }, 5'000'000);
  sender.join();
  const double cpu = cpu_seconds_self() - cpu0;
  CHECK(arrived);
  if (!arrived) return;
  const std::uint64_t latency = at_b.at_us[0] - sent_at.load();
  ambience::println("  woken after ", static_cast<int>(latency),
                    " us; cpu while waiting 0.3 s: ", static_cast<int>(cpu * 1000), " ms; loop sleeps ",
                    static_cast<int>(node.idle_hook().sleeps - sleeps0));
  CHECK(node.idle_hook().sleeps > sleeps0);  // the loop really slept
  CHECK(latency < 2'000'000);  // the loop woke (without the wake it sleeps on); not a speed bound
  CHECK(cpu < 0.03);
  CHECK(at_b.payloads[0] == "wake up");
}

// Network access stays in the supervisor: a group process (this binary re-executed) must not
// inherit the link's socket or the watcher's epoll/eventfd. The group counts them before its
// sandbox is installed and aborts if it finds any, which the supervisor reports as a fault.
int inherited_network_fds() {
  int found = 0;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  while (dirent* e = readdir(dir)) {
    char path[300], target[128];
    std::snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
    const ssize_t n = readlink(path, target, sizeof target - 1);
    if (n <= 0) continue;
    target[n] = '\0';
    if (std::strncmp(target, "socket:", 7) == 0 || std::strstr(target, "eventpoll") != nullptr ||
        std::strstr(target, "eventfd") != nullptr) {
      ++found;
    }
  }
  closedir(dir);
  return found;
}

void install_group(ambience::hosted::GroupRuntime&) {
  if (inherited_network_fds() != 0) std::abort();
}

AMBIENCE_TEST(group_processes_inherit_no_socket) {
  // Keep the socket off fds 3..7, which the node overwrites with the group's memory in the child.
  int low[8];
  for (int& fd : low) fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  auto link = open_loopback();
  for (int fd : low) ::close(fd);
  CHECK(link != nullptr);
  ambience::hosted::Node node;
  ambience::hosted::GroupOptions o;
  o.name = "plain";
  o.ring = {8, 8, 64};
  o.kernel_arena_bytes = 1 << 16;
  o.group_arena_bytes = 1 << 16;
  const int g = node.add_group(o);
  CHECK(node.start() == Status::ok);
  run_for([] { return false; }, 300'000);
  const ambience::hosted::GroupStatus st = node.status(g);
  if (!st.last_fault.empty()) ambience::println("  group fault: ", st.last_fault.c_str());
  CHECK(st.running);
  CHECK_EQ(st.restarts, 0u);
  CHECK(st.last_fault.empty());
}

const bool g_group_mode = (ambience::hosted::run_group_if_requested(install_group), false);

}  // namespace
