// HostedSerialPort under the real hosted loop (Scheduler::run_until with SerialIdleHook
// installed, so the loop sleeps in poll(2) on the line): a SerialLink talks to an echo thread
// over a socketpair, a pty (raw mode: 0x00, CR, LF and 0x7F bytes survive) and a unix socket
// path; back-pressure while the peer does not read; a closed peer; `--serial` parsing.
#include "runtime/hosted/serial_port.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstring>
#include <string>
#include <thread>

#include "kernel/core/arch.hpp"
#include "kernel/core/scheduler.hpp"
#include "kernel/core/sleep.hpp"
#include "kernel/core/task.hpp"
#include "kernel/net/stream_framer.hpp"
#include "kernel/testing/test.hpp"
#include "runtime/rpc/serial_link.hpp"

namespace {

using ambience::Scheduler;
using ambience::spawn;
using ambience::Status;
using ambience::Task;
using ambience::hosted::HostedSerialPort;
using ambience::hosted::SerialIdleHook;
using ambience::net::LinkFrame;
using ambience::net::LinkHeader;
using ambience::rpc::Peer;
using ambience::rpc::SerialLink;
using ambience::rpc::StaticSerialLink;

constexpr std::size_t kFragment = SerialLink::kDefaultMaxFragment;

std::size_t size_of(std::uint16_t seq) { return (seq * 53u) % (kFragment + 1); }
// Every byte value appears, 0x00, '\r', '\n', 0x7F and 0x11/0x13 (XON/XOFF) among them.
std::byte byte_of(std::uint16_t seq, std::size_t i) { return std::byte(static_cast<std::uint8_t>(seq + i * 11)); }

// The far end of the line on its own thread, with blocking I/O: decodes every frame and sends
// it back re-encoded (the C++ framer without any link or loop).
class EchoPeer {
 public:
  explicit EchoPeer(int fd, int start_after_ms = 0) : fd_(fd), start_after_ms_(start_after_ms) {
    thread_ = std::thread([this] { run(); });
  }
  ~EchoPeer() {
    stop_ = true;
    thread_.join();
  }
  int echoed() const { return echoed_; }

 private:
  void run() {
    if (start_after_ms_ != 0) usleep(static_cast<useconds_t>(start_after_ms_) * 1000u);
    ambience::net::StaticStreamDecoder<kFragment> decoder;
    std::array<std::byte, 512> in;
    std::array<std::byte, ambience::net::stream_frame_bound(kFragment)> out;
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const ssize_t n = ::read(fd_, in.data(), in.size());
      if (n <= 0) {
        if (n < 0 && errno == EAGAIN) continue;
        return;
      }
      decoder.feed(std::span<const std::byte>(in.data(), static_cast<std::size_t>(n)), [&](const LinkFrame& f) {
        const auto e = ambience::net::encode_stream_frame(f.header, f.payload, out);
        if (!e.ok()) return;
        std::size_t done = 0;
        while (done < e.value()) {
          const ssize_t w = ::write(fd_, out.data() + done, e.value() - done);
          if (w > 0) {
            done += static_cast<std::size_t>(w);
          } else if (w < 0 && errno == EAGAIN) {
            pollfd q{fd_, POLLOUT, 0};
            ::poll(&q, 1, 20);
          } else {
            return;
          }
        }
        ++echoed_;
      });
    }
  }
  int fd_;
  int start_after_ms_;
  std::atomic<bool> stop_{false};
  std::atomic<int> echoed_{0};
  std::thread thread_;
};

struct Checker final : ambience::rpc::FrameSink {
  int matched = 0, mismatched = 0;
  void on_frame(Peer, const LinkFrame& f) override {
    const std::uint16_t seq = f.header.sequence;
    bool ok = f.payload.size() == size_of(seq);
    for (std::size_t i = 0; ok && i < f.payload.size(); ++i) ok = f.payload[i] == byte_of(seq, i);
    ++(ok ? matched : mismatched);
  }
};

Task<void> send_all(SerialLink& link, int frames, int* sent, Status* last) {
  std::array<std::byte, kFragment> p{};
  for (int i = 0; i < frames; ++i) {
    const auto seq = static_cast<std::uint16_t>(i);
    const std::size_t n = size_of(seq);
    for (std::size_t k = 0; k < n; ++k) p[k] = byte_of(seq, k);
    LinkHeader h;
    h.sequence = seq;
    h.message_id = seq;
    h.message_length = static_cast<std::uint32_t>(n);
    *last = co_await link.send(Peer{0}, h, std::span<const std::byte>(p.data(), n));
    if (*last != Status::ok) co_return;
    ++*sent;
  }
}

// Sends `frames` frames through `port` and runs the real loop until every echo came back (or
// 10 s passed). Returns the frames matched.
int round_trip(HostedSerialPort& port, int frames, Checker& checker, int* sent, Status* last) {
  StaticSerialLink<kFragment> link(port);
  link->attach(&checker);
  SerialIdleHook hook;
  hook.add(link.link(), port);
  hook.install();
  const std::uint64_t deadline = ambience::arch::now_us() + 10'000'000;
  if (spawn(send_all(link.link(), frames, sent, last)) != Status::ok) return -1;
  Scheduler::current().run_until([&] {
    const bool send_failed = *last != Status::ok && *last != Status::internal;
    return checker.matched + checker.mismatched >= frames || send_failed || ambience::arch::now_us() > deadline;
  });
  hook.uninstall();
  // Let a sender stuck on a dead line finish before its link goes out of scope.
  Scheduler::current().run_until([&] { return *sent == frames || *last != Status::ok; });
  return checker.matched;
}

AMBIENCE_TEST(frames_round_trip_over_a_socketpair_in_the_real_loop) {
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  HostedSerialPort port(sv[0]);
  Checker checker;
  int sent = 0;
  Status last = Status::internal;
  {
    EchoPeer peer(sv[1]);
    CHECK_EQ(round_trip(port, 200, checker, &sent, &last), 200);
    CHECK_EQ(peer.echoed(), 200);
  }
  CHECK_EQ(checker.mismatched, 0);
  CHECK(last == Status::ok);
  close(sv[1]);
}

AMBIENCE_TEST(a_peer_that_does_not_read_holds_the_sender_back) {
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  const int small = 4096;
  setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
  setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  HostedSerialPort port(sv[0]);
  Checker checker;
  int sent = 0;
  Status last = Status::internal;
  {
    EchoPeer peer(sv[1], /*start_after_ms=*/300);  // ~100 KiB of frames cannot fit meanwhile
    CHECK_EQ(round_trip(port, 400, checker, &sent, &last), 400);
  }
  CHECK(port.write_waits() > 0);
  CHECK_EQ(sent, 400);
  close(sv[1]);
}

AMBIENCE_TEST(a_pty_in_raw_mode_carries_every_byte_value) {
  int master = -1, slave = -1;
  char name[128];
  CHECK(openpty(&master, &slave, name, nullptr, nullptr) == 0);
  close(slave);  // the port opens the slave by name, as the runner's path would be given
  auto opened = HostedSerialPort::open(name);
  CHECK(opened.ok());
  if (!opened.ok()) return;
  {
    // The master side of a pty has no line discipline of its own to configure.
    Checker checker;
    int sent = 0;
    Status last = Status::internal;
    EchoPeer peer(master);
    CHECK_EQ(round_trip(*opened.value(), 60, checker, &sent, &last), 60);
    CHECK_EQ(checker.mismatched, 0);
  }
  close(master);
}

AMBIENCE_TEST(a_unix_socket_path_is_connected_to_and_a_closed_peer_ends_sending) {
  char dir[] = "/tmp/serial_port_test_XXXXXX";
  CHECK(mkdtemp(dir) != nullptr);
  const std::string path = std::string(dir) + "/line.sock";
  const int listener = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  CHECK(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  CHECK(listen(listener, 1) == 0);
  auto opened = HostedSerialPort::open(path);
  CHECK(opened.ok());
  if (!opened.ok()) return;
  const int accepted = accept(listener, nullptr, nullptr);
  CHECK(accepted >= 0);
  {
    Checker checker;
    int sent = 0;
    Status last = Status::internal;
    EchoPeer peer(accepted);
    CHECK_EQ(round_trip(*opened.value(), 30, checker, &sent, &last), 30);
  }
  close(accepted);
  // The other end is gone: reading sees EOF and sending fails with unavailable.
  Checker checker;
  int sent = 0;
  Status last = Status::internal;
  std::array<std::byte, 16> buf;
  opened.value()->read(buf);
  CHECK(!opened.value()->up());
  CHECK_EQ(round_trip(*opened.value(), 5, checker, &sent, &last), 0);
  CHECK(last == Status::unavailable);
  close(listener);
  unlink(path.c_str());
  rmdir(dir);
  CHECK(HostedSerialPort::open(path).status() == Status::not_found);
}

AMBIENCE_TEST(serial_arguments_name_a_network_and_a_path) {
  auto a = ambience::hosted::parse_serial_argument("field_bus=/tmp/cluster/field_bus.sock");
  CHECK(a.ok());
  CHECK(a.value().network == "field_bus");
  CHECK(a.value().path == "/tmp/cluster/field_bus.sock");
  CHECK(ambience::hosted::parse_serial_argument("no_path=").status() == Status::bad_message);
  CHECK(ambience::hosted::parse_serial_argument("=/dev/pts/3").status() == Status::bad_message);
  CHECK(ambience::hosted::parse_serial_argument("/dev/pts/3").status() == Status::bad_message);
}

}  // namespace
