// Round-trip time of one frame over loopback between two processes, each with its own loop:
// the parent's UdpLink sends a frame, the child's loop is woken by its FdWatcher, its sink
// echoes the frame, the parent's loop is woken the same way and sees the reply. Baseline in the
// same run: two processes ping-ponging the same bytes with blocking recvfrom/sendto (the floor
// the kernel's loopback allows; no loop, no watcher thread).
//
//   bazel run -c opt //runtime/hosted:udp_link_bench [-- rounds]
#include <arpa/inet.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "kernel/core/arch.hpp"
#include "kernel/core/scheduler.hpp"
#include "kernel/core/task.hpp"
#include "runtime/hosted/udp_link.hpp"

namespace {

using ambience::Result;
using ambience::Scheduler;
using ambience::Status;
using ambience::Task;
using ambience::hosted::UdpLink;
using ambience::hosted::UdpLinkOptions;
using ambience::net::LinkFrame;
using ambience::net::LinkHeader;
using ambience::rpc::Peer;

constexpr std::size_t kSizes[] = {16, 1400};
constexpr int kBlocks = 10;

LinkHeader header_for(std::uint16_t sequence, std::size_t size) {
  LinkHeader h;
  h.sequence = sequence;
  h.message_id = sequence;
  h.message_length = static_cast<std::uint32_t>(size);
  return h;
}

Task<void> send_copy(UdpLink& link, Peer to, LinkHeader h, std::vector<std::byte> payload) {
  (void)co_await link.send(to, h, payload);
}

std::unique_ptr<UdpLink> open_link() {
  UdpLinkOptions o;
  o.address = "127.0.0.1";
  std::string error;
  auto link = UdpLink::open(o, &error);
  if (!link.ok()) {
    std::fprintf(stderr, "open: %s\n", error.c_str());
    std::exit(1);
  }
  return std::move(link.value());
}

struct Echo : ambience::rpc::FrameSink {
  UdpLink* link = nullptr;
  void on_frame(Peer from, const LinkFrame& f) override {
    std::vector<std::byte> copy(f.payload.begin(), f.payload.end());
    (void)ambience::spawn(send_copy(*link, from, f.header, std::move(copy)));
  }
};

[[noreturn]] void link_echo_child(int port_pipe) {
  auto link = open_link();
  Echo echo;
  echo.link = link.get();
  link->attach(&echo);
  const std::uint16_t port = link->local_port();
  (void)!::write(port_pipe, &port, sizeof port);
  Scheduler::current().run_until([] { return false; });
  std::exit(0);
}

[[noreturn]] void raw_echo_child(int port_pipe) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  const std::uint16_t port = ntohs(a.sin_port);
  (void)!::write(port_pipe, &port, sizeof port);
  char buffer[2048];
  for (;;) {
    sockaddr_in from{};
    socklen_t from_len = sizeof from;
    const ssize_t n = ::recvfrom(fd, buffer, sizeof buffer, 0, reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n > 0) ::sendto(fd, buffer, static_cast<std::size_t>(n), 0, reinterpret_cast<sockaddr*>(&from), from_len);
  }
}

pid_t start_child(void (*body)(int), std::uint16_t& port) {
  int p[2];
  if (::pipe(p) != 0) std::exit(1);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(p[0]);
    body(p[1]);
  }
  ::close(p[1]);
  if (::read(p[0], &port, sizeof port) != sizeof port) std::exit(1);
  ::close(p[0]);
  return pid;
}

struct Summary {
  double median, p90, p99, mean;
};

Summary summarize(std::vector<double> us) {
  std::sort(us.begin(), us.end());
  double sum = 0;
  for (double v : us) sum += v;
  return {us[us.size() / 2], us[us.size() * 9 / 10], us[us.size() * 99 / 100], sum / static_cast<double>(us.size())};
}

std::vector<double> raw_rounds(std::uint16_t port, std::size_t size, int rounds) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  to.sin_port = htons(port);
  std::vector<char> buffer(size + 22, 'r');  // the same bytes on the wire as a link frame
  std::vector<double> out;
  for (int i = 0; i < rounds; ++i) {
    const std::uint64_t t0 = ambience::arch::now_us();
    ::sendto(fd, buffer.data(), buffer.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    ::recv(fd, buffer.data(), buffer.size(), 0);
    out.push_back(static_cast<double>(ambience::arch::now_us() - t0));
  }
  ::close(fd);
  return out;
}

struct Counter : ambience::rpc::FrameSink {
  std::size_t frames = 0;
  void on_frame(Peer, const LinkFrame&) override { ++frames; }
};

std::vector<double> link_rounds(UdpLink& link, Peer to, std::size_t size, int rounds) {
  Counter counter;
  link.attach(&counter);
  const std::vector<std::byte> payload(size, std::byte{'l'});
  std::vector<double> out;
  for (int i = 0; i < rounds; ++i) {
    const std::size_t before = counter.frames;
    const std::uint64_t t0 = ambience::arch::now_us();
    (void)ambience::spawn(send_copy(link, to, header_for(static_cast<std::uint16_t>(i), size), payload));
    Scheduler::current().run_until([&] { return counter.frames > before; });
    out.push_back(static_cast<double>(ambience::arch::now_us() - t0));
  }
  link.attach(nullptr);
  return out;
}

void print(const char* what, std::size_t size, const Summary& s) {
  std::printf("%-5s %5zu B payload: median %7.1f us  p90 %7.1f  p99 %7.1f  mean %7.1f\n", what, size, s.median, s.p90,
              s.p99, s.mean);
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 5000;
  // Both echo processes start before this process has any thread (fork copies only the caller).
  std::uint16_t raw_port = 0, link_port = 0;
  const pid_t raw_pid = start_child(&raw_echo_child, raw_port);
  const pid_t link_pid = start_child(&link_echo_child, link_port);
  std::printf(
      "method: %d round trips of one frame over 127.0.0.1 between two processes, after 500 warm-up\n"
      "rounds, in 10 interleaved blocks per kind; link = UdpLink + FdWatcher + loop on both sides (each loop sleeps "
      "between frames);\n"
      "raw = blocking sendto/recv on plain sockets with the same datagram size (baseline)\n",
      rounds);
  auto link = open_link();
  Result<Peer> to = link->resolve("127.0.0.1", link_port);
  if (!to.ok()) return 1;
  for (std::size_t size : kSizes) {
    raw_rounds(raw_port, size, 500);
    link_rounds(*link, to.value(), size, 500);
    // Interleaved blocks: both see the same machine load and CPU power states.
    std::vector<double> raw_us, link_us;
    for (int block = 0; block < kBlocks; ++block) {
      const std::vector<double> r = raw_rounds(raw_port, size, rounds / kBlocks);
      const std::vector<double> l = link_rounds(*link, to.value(), size, rounds / kBlocks);
      raw_us.insert(raw_us.end(), r.begin(), r.end());
      link_us.insert(link_us.end(), l.begin(), l.end());
    }
    const Summary raw = summarize(raw_us);
    const Summary via_link = summarize(link_us);
    print("raw", size, raw);
    print("link", size, via_link);
    std::printf("RESULT udp_rtt_raw_%zuB_median_us %.1f\n", size, raw.median);
    std::printf("RESULT udp_rtt_link_%zuB_median_us %.1f\n", size, via_link.median);
    std::printf("RESULT udp_rtt_link_%zuB_p99_us %.1f\n", size, via_link.p99);
    std::printf("RESULT udp_rtt_link_over_raw_%zuB %.2f\n", size, via_link.median / raw.median);
  }
  std::printf("link counters: sent %llu received %llu dropped %llu\n",
              static_cast<unsigned long long>(link->counters().frames_sent),
              static_cast<unsigned long long>(link->counters().frames_received),
              static_cast<unsigned long long>(link->counters().frames_dropped));
  ::kill(raw_pid, SIGKILL);
  ::kill(link_pid, SIGKILL);
  ::waitpid(raw_pid, nullptr, 0);
  ::waitpid(link_pid, nullptr, 0);
  return 0;
}
