// Two EthUdpLinks on a simulated Ethernet segment: ARP resolution on first send, datagram
// framing both ways, echo through the sink, corrupted datagrams dropped and counted.
#include "runtime/cortex_m/eth_udp_link.hpp"

#include <cstring>

#include "kernel/core/arch.hpp"
#include "kernel/core/scheduler.hpp"
#include "kernel/core/task.hpp"
#include "kernel/net/datagram.hpp"
#include "kernel/testing/test.hpp"

namespace {

using namespace ambience;
using namespace ambience::node;

// One direction of the wire: a bounded queue of frames.
struct FrameQueue {
  static constexpr std::size_t kDepth = 8;
  std::byte frames[kDepth][net::ip::kMaxFrame];
  std::size_t sizes[kDepth] = {};
  std::size_t head = 0, tail = 0;
};

class SimulatedNic final : public EthernetDevice {
 public:
  SimulatedNic(FrameQueue& rx, FrameQueue& tx) : rx_(rx), tx_(tx) {}
  Status transmit(std::span<const std::byte> frame) override {
    if (tx_.tail - tx_.head == FrameQueue::kDepth) return Status::would_block;
    std::memcpy(tx_.frames[tx_.tail % FrameQueue::kDepth], frame.data(), frame.size());
    tx_.sizes[tx_.tail % FrameQueue::kDepth] = frame.size();
    ++tx_.tail;
    return Status::ok;
  }
  std::size_t receive(std::span<std::byte> out) override {
    if (rx_.head == rx_.tail) return 0;
    const std::size_t n = rx_.sizes[rx_.head % FrameQueue::kDepth];
    std::memcpy(out.data(), rx_.frames[rx_.head % FrameQueue::kDepth], n);
    ++rx_.head;
    return n;
  }
  bool link_up() override { return true; }
  FrameQueue& rx_;
  FrameQueue& tx_;
};

struct Recorder final : rpc::FrameSink {
  void on_frame(rpc::Peer from, const net::LinkFrame& frame) override {
    ++count;
    last_from = from;
    header = frame.header;
    size = frame.payload.size();
    std::memcpy(bytes, frame.payload.data(), size);
    if (echo_link != nullptr) (void)echo_link->send_now(from, frame.header, frame.payload);
  }
  std::size_t count = 0;
  rpc::Peer last_from;
  net::LinkHeader header;
  std::byte bytes[1500];
  std::size_t size = 0;
  EthUdpLink* echo_link = nullptr;
};

std::uint64_t g_now = 0;
std::uint64_t now_ms() { return g_now; }

struct Segment {
  FrameQueue a_to_b, b_to_a;
  SimulatedNic nic_a{b_to_a, a_to_b}, nic_b{a_to_b, b_to_a};
  EthUdpLink a{nic_a, {"10.0.0.1", 7001, "255.255.255.0", "", {0x02, 0, 0, 0, 0, 1}}, now_ms};
  EthUdpLink b{nic_b, {"10.0.0.2", 7002, "255.255.255.0", "", {0x02, 0, 0, 0, 0, 2}}, now_ms};
  Recorder at_a, at_b;
  Segment() {
    a.attach(&at_a);
    b.attach(&at_b);
  }
  void settle() {
    for (int i = 0; i < 6; ++i) {
      a.poll();
      b.poll();
    }
  }
};

const std::byte kPayload[] = {std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}, std::byte{5}};

net::LinkHeader header_for(std::size_t size, std::uint16_t sequence) {
  net::LinkHeader h;
  h.sequence = sequence;
  h.message_id = sequence;
  h.message_length = static_cast<std::uint32_t>(size);
  h.payload_length = static_cast<std::uint16_t>(size);
  return h;
}

AMBIENCE_TEST(config_and_addresses_are_validated) {
  FrameQueue q1, q2;
  SimulatedNic nic(q1, q2);
  EthUdpLink bad(nic, {"10.0.0", 7000, "255.255.255.0", "", {}}, nullptr);
  CHECK(bad.start() == Status::bad_message);
  EthUdpLink good(nic, {"10.0.0.2", 7000, "255.255.255.0", "10.0.0.1", {}}, nullptr);
  CHECK(good.start() == Status::ok);
  CHECK(!good.resolve("edge", 7000));
  CHECK(good.resolve("edge", 7000).status() == Status::not_found);
  for (std::size_t i = 0; i < EthUdpLink::kMaxPeers; ++i)
    CHECK(good.resolve("10.0.0.9", static_cast<std::uint16_t>(100 + i)));
  CHECK(good.resolve("10.0.0.9", 7000).status() == Status::no_memory);
  CHECK_EQ(good.resolve("10.0.0.9", 100)->id, 0u);  // known peers still resolve
  CHECK_EQ(good.max_fragment(), std::size_t{1450});
  CHECK(good.send_now(rpc::Peer{99}, header_for(0, 0), {}) == Status::not_found);
}

Task<void> send_three(EthUdpLink& link, rpc::Peer peer, int& sent, Status* results) {
  for (int i = 0; i < 3; ++i) {
    results[i] = co_await link.send(peer, header_for(sizeof kPayload, static_cast<std::uint16_t>(20 + i)), kPayload);
    ++sent;
  }
}

// A message's fragments go out back to back: the ones after the first wait for its ARP answer
// instead of failing the message.
AMBIENCE_TEST(fragments_wait_for_the_first_arp_answer) {
  Segment s;
  CHECK(s.a.start() == Status::ok);
  CHECK(s.b.start() == Status::ok);
  auto peer = s.a.resolve("10.0.0.2", 7002);
  CHECK(peer);
  int sent = 0;
  Status results[3] = {Status::internal, Status::internal, Status::internal};
  CHECK(ambience::spawn(send_three(s.a, *peer, sent, results)) == Status::ok);
  const std::uint64_t until = ambience::arch::now_us() + 2'000'000;
  while (sent < 3 && ambience::arch::now_us() < until) {
    s.settle();
    ambience::Scheduler::current().run_ready();
  }
  s.settle();
  CHECK_EQ(sent, 3);
  for (Status r : results) CHECK(r == Status::ok);
  CHECK_EQ(s.at_b.count, std::size_t{3});
  CHECK_EQ(s.at_b.header.sequence, 22u);
  CHECK_EQ(s.a.counters().send_errors, 0u);
}

AMBIENCE_TEST(first_send_resolves_with_arp_and_the_frame_is_echoed) {
  Segment s;
  CHECK(s.a.start() == Status::ok);
  CHECK(s.b.start() == Status::ok);
  s.at_b.echo_link = &s.b;
  auto peer = s.a.resolve("10.0.0.2", 7002);
  CHECK(peer);
  CHECK(s.a.send_now(*peer, header_for(sizeof kPayload, 1), kPayload) == Status::ok);
  // Waiting for ARP: a second frame is refused, not queued.
  CHECK(s.a.send_now(*peer, header_for(sizeof kPayload, 2), kPayload) == Status::would_block);
  s.settle();
  CHECK_EQ(s.at_b.count, std::size_t{1});
  CHECK_EQ(s.at_b.header.sequence, 1u);
  CHECK_EQ(s.at_b.size, sizeof kPayload);
  CHECK(std::memcmp(s.at_b.bytes, kPayload, sizeof kPayload) == 0);
  CHECK_EQ(s.at_a.count, std::size_t{1});  // the echo came back
  CHECK_EQ(s.at_a.last_from.id, peer->id);
  CHECK_EQ(s.a.counters().frames_sent, 1u);
  CHECK_EQ(s.a.counters().send_errors, 0u);  // would_block is the caller's to retry, not an error
  CHECK_EQ(s.b.counters().frames_received, 1u);
  CHECK_EQ(s.b.ip_counters().rx_arp, 1u);  // answered A's request
  // Resolved: many frames go straight through.
  for (std::uint16_t i = 0; i < 20; ++i) {
    CHECK(s.a.send_now(*peer, header_for(sizeof kPayload, static_cast<std::uint16_t>(10 + i)), kPayload) == Status::ok);
    s.settle();
  }
  CHECK_EQ(s.at_a.count, std::size_t{21});
  CHECK_EQ(s.a.ip_counters().arp_requests_sent, 1u);
}

AMBIENCE_TEST(corrupted_datagrams_are_dropped_and_counted) {
  Segment s;
  CHECK(s.a.start() == Status::ok);
  CHECK(s.b.start() == Status::ok);
  auto peer = s.a.resolve("10.0.0.2", 7002);
  CHECK(s.a.send_now(*peer, header_for(sizeof kPayload, 1), kPayload) == Status::ok);
  s.settle();
  CHECK_EQ(s.at_b.count, std::size_t{1});
  // Flip a byte of the link frame after the UDP checksum was computed, and fix the UDP checksum
  // to 0 ("none"): only the link CRC can catch it.
  CHECK(s.a.send_now(*peer, header_for(sizeof kPayload, 2), kPayload) == Status::ok);
  FrameQueue& q = s.a_to_b;
  std::byte* f = q.frames[(q.tail - 1) % FrameQueue::kDepth];
  f[34 + 6] = std::byte{0};
  f[34 + 7] = std::byte{0};
  f[34 + 8 + 18] ^= std::byte{0xff};
  s.settle();
  CHECK_EQ(s.at_b.count, std::size_t{1});
  CHECK_EQ(s.b.counters().frames_dropped, 1u);
}

}  // namespace
