// SerialLink over an in-memory null-modem cable (memory_byte_port.hpp), on the host and on both
// boards: frames both ways, garbage and cut frames between good ones, receive faults, the TX
// buffer filling up (senders wait, in order), and the counters.
#include "runtime/rpc/serial_link.hpp"

#include <array>
#include <cstddef>
#include <cstdint>

#include "kernel/core/scheduler.hpp"
#include "kernel/core/task.hpp"
#include "kernel/testing/test.hpp"
#include "runtime/rpc/memory_byte_port.hpp"

namespace {

using ambience::Scheduler;
using ambience::spawn;
using ambience::Status;
using ambience::Task;
using ambience::net::LinkFrame;
using ambience::net::LinkHeader;
using ambience::rpc::Peer;
using ambience::rpc::SerialLink;
using ambience::rpc::StaticSerialLink;
using ambience::rpc::testing::ByteQueue;
using ambience::rpc::testing::MemoryBytePort;

constexpr std::size_t kFragment = 128;

// What one end received: sequence numbers and a checksum of each payload.
struct Recorder final : ambience::rpc::FrameSink {
  static constexpr std::size_t kMax = 64;
  std::array<std::uint16_t, kMax> sequence{};
  std::array<std::uint32_t, kMax> sum{};
  std::array<std::size_t, kMax> size{};
  std::size_t count = 0;
  void on_frame(Peer from, const LinkFrame& f) override {
    if (from.id != 0 || count == kMax) return;
    sequence[count] = f.header.sequence;
    std::uint32_t s = 0;
    for (std::byte b : f.payload) s = s * 31 + std::to_integer<std::uint32_t>(b);
    sum[count] = s;
    size[count] = f.payload.size();
    ++count;
  }
};

// A payload of `n` bytes derived from `seed`, zeros included (COBS must stuff them).
std::array<std::byte, kFragment> payload_for(std::uint16_t seed, std::size_t n, std::uint32_t* sum) {
  std::array<std::byte, kFragment> p{};
  std::uint32_t s = 0;
  for (std::size_t i = 0; i < n; ++i) {
    p[i] = std::byte(static_cast<std::uint8_t>((i % 7 == 0) ? 0 : (seed * 13 + i)));
    s = s * 31 + std::to_integer<std::uint32_t>(p[i]);
  }
  if (sum != nullptr) *sum = s;
  return p;
}

LinkHeader single(std::uint16_t sequence, std::size_t n) {
  LinkHeader h;
  h.sequence = sequence;
  h.message_id = sequence;
  h.message_length = static_cast<std::uint32_t>(n);
  return h;
}

// Sends `count` frames (sequence first.., sizes cycling) and records each send's status.
Task<void> send_frames(SerialLink& link, std::uint16_t first, int count, Status* last, int* sent) {
  for (int i = 0; i < count; ++i) {
    const auto seq = static_cast<std::uint16_t>(first + i);
    const std::size_t n = (seq * 37u) % (kFragment + 1);
    const auto p = payload_for(seq, n, nullptr);
    *last = co_await link.send(Peer{0}, single(seq, n), std::span<const std::byte>(p.data(), n));
    if (*last != Status::ok) co_return;
    ++*sent;
  }
}

// Two links joined by a cable whose queues hold `Capacity` bytes in each direction.
template <std::size_t Capacity>
struct Cable {
  ByteQueue<Capacity> ab, ba;
  MemoryBytePort<Capacity> a{ab, ba}, b{ba, ab};
  Cable() {
    a.connect(b);
    b.connect(a);
  }
};

AMBIENCE_TEST(frames_cross_in_both_directions) {
  static Cable<4096> storage;
  Cable<4096>* cable = &storage;
  StaticSerialLink<kFragment> left(cable->a), right(cable->b);
  Recorder at_left, at_right;
  left->attach(&at_left);
  right->attach(&at_right);
  Status l = Status::internal, r = Status::internal;
  int ls = 0, rs = 0;
  CHECK(spawn(send_frames(left.link(), 100, 10, &l, &ls)) == Status::ok);
  CHECK(spawn(send_frames(right.link(), 500, 10, &r, &rs)) == Status::ok);
  Scheduler::current().run_until_idle();  // the receive notifications run poll() on the loop
  CHECK(l == Status::ok);
  CHECK(r == Status::ok);
  CHECK_EQ(at_right.count, std::size_t{10});
  CHECK_EQ(at_left.count, std::size_t{10});
  for (std::size_t i = 0; i < at_right.count; ++i) {
    const auto seq = static_cast<std::uint16_t>(100 + i);
    std::uint32_t sum = 0;
    const std::size_t n = (seq * 37u) % (kFragment + 1);
    payload_for(seq, n, &sum);
    CHECK_EQ(at_right.sequence[i], seq);
    CHECK_EQ(at_right.size[i], n);
    CHECK_EQ(at_right.sum[i], sum);
  }
  CHECK_EQ(at_left.sequence[9], std::uint16_t{509});
  CHECK_EQ(left->counters().frames_sent, std::uint64_t{10});
  CHECK_EQ(right->counters().frames_received, std::uint64_t{10});
  CHECK_EQ(right->counters().bytes_received, left->counters().bytes_sent);
  CHECK_EQ(right->counters().frames_dropped, std::uint64_t{0});
  CHECK_EQ(right->stream_counters().frames_missed, std::uint32_t{0});
  CHECK(right->resolve("10.0.0.9", 7).value() == Peer{0});
  CHECK_EQ(left->max_fragment(), kFragment);
}

AMBIENCE_TEST(garbage_and_cut_frames_between_good_ones_cost_only_themselves) {
  static Cable<4096> storage;
  Cable<4096>* cable = &storage;
  StaticSerialLink<kFragment> left(cable->a), right(cable->b);
  Recorder got;
  right->attach(&got);
  // Frame 1, noise without zeros, frame 2, noise with zeros, the first half of a frame, frame 3.
  std::array<std::byte, 300> encoded{};
  const auto p = payload_for(7, 90, nullptr);
  const auto cut =
      ambience::net::encode_stream_frame(single(77, 90), std::span<const std::byte>(p.data(), 90), encoded);
  CHECK(cut.ok());
  const std::array<std::byte, 5> noise{std::byte{0x41}, std::byte{0x42}, std::byte{0xFF}, std::byte{0x13},
                                       std::byte{0x99}};
  const std::array<std::byte, 6> zeros{std::byte{0x05}, std::byte{0},    std::byte{0x31},
                                       std::byte{0},    std::byte{0x02}, std::byte{0x07}};
  Status st = Status::internal;
  int sent = 0;
  CHECK(spawn(send_frames(left.link(), 1, 1, &st, &sent)) == Status::ok);
  Scheduler::current().run_until_idle();
  cable->a.inject(noise);
  CHECK(spawn(send_frames(left.link(), 2, 1, &st, &sent)) == Status::ok);
  Scheduler::current().run_until_idle();
  cable->a.inject(zeros);
  cable->a.inject(std::span<const std::byte>(encoded.data(), cut.value() / 2));
  CHECK(spawn(send_frames(left.link(), 3, 1, &st, &sent)) == Status::ok);
  Scheduler::current().run_until_idle();
  CHECK_EQ(got.count, std::size_t{3});
  CHECK_EQ(got.sequence[0], std::uint16_t{1});
  CHECK_EQ(got.sequence[1], std::uint16_t{2});
  CHECK_EQ(got.sequence[2], std::uint16_t{3});
  // Noise ending in a delimiter, the garbage run and the cut frame: each one counted drop.
  CHECK(right->counters().frames_dropped >= 3);
  const auto& s = right->stream_counters();
  CHECK_EQ(std::uint64_t{s.crc_errors} + s.framing_errors + s.header_errors + s.oversize,
           right->counters().frames_dropped);
}

AMBIENCE_TEST(a_receive_fault_drops_the_partial_frame) {
  static Cable<4096> storage;
  Cable<4096>* cable = &storage;
  StaticSerialLink<kFragment> left(cable->a), right(cable->b);
  Recorder got;
  right->attach(&got);
  std::array<std::byte, 300> encoded{};
  const auto p = payload_for(3, 60, nullptr);
  const auto enc =
      ambience::net::encode_stream_frame(single(40, 60), std::span<const std::byte>(p.data(), 60), encoded);
  CHECK(enc.ok());
  // The first half arrives, then the UART reports an overrun (the bytes it lost are the rest of
  // this frame's middle); what follows is the frame's tail and then a good frame.
  cable->a.inject(std::span<const std::byte>(encoded.data(), enc.value() / 2));
  right->poll();
  cable->b.raise_rx_fault();
  cable->a.inject(std::span<const std::byte>(encoded.data() + enc.value() / 2 + 10, enc.value() / 2 - 10));
  Status st = Status::internal;
  int sent = 0;
  CHECK(spawn(send_frames(left.link(), 41, 1, &st, &sent)) == Status::ok);
  Scheduler::current().run_until_idle();
  CHECK_EQ(got.count, std::size_t{1});
  CHECK_EQ(got.sequence[0], std::uint16_t{41});
  CHECK_EQ(right->serial_counters().rx_faults, std::uint64_t{1});
  // The tail was skipped by the resync, so it is not even counted as a bad frame.
  CHECK_EQ(right->counters().frames_dropped, std::uint64_t{0});
}

AMBIENCE_TEST(a_full_tx_buffer_makes_senders_wait_in_order) {
  static Cable<64> storage;
  Cable<64>* cable = &storage;  // far less than one 128-byte frame
  StaticSerialLink<kFragment> left(cable->a), right(cable->b);
  Recorder got;
  right->attach(&got);
  // No receive notification: the receiver is "busy" until it is polled by hand below.
  cable->b.notify_on_receive(nullptr);
  Status s1 = Status::internal, s2 = Status::internal;
  int n1 = 0, n2 = 0;
  CHECK(spawn(send_frames(left.link(), 10, 3, &s1, &n1)) == Status::ok);
  CHECK(spawn(send_frames(left.link(), 20, 3, &s2, &n2)) == Status::ok);
  // Drive only the sending side: with nobody reading, the queue fills and both senders wait.
  for (int i = 0; i < 5; ++i) Scheduler::current().run_ready();
  CHECK_EQ(cable->ab.size(), cable->ab.capacity());
  CHECK(n1 + n2 < 2);
  CHECK(cable->a.write_waits() >= 1);
  CHECK(left->serial_counters().send_waits >= 1);
  // Now the receiver drains; every frame arrives whole, the two senders' frames not interleaved.
  for (int guard = 0; guard < 1000 && got.count < 6; ++guard) {
    right->poll();
    Scheduler::current().run_ready();
  }
  CHECK(s1 == Status::ok);
  CHECK(s2 == Status::ok);
  CHECK_EQ(n1 + n2, 6);
  CHECK_EQ(got.count, std::size_t{6});
  CHECK_EQ(right->counters().frames_dropped, std::uint64_t{0});
  CHECK_EQ(got.sequence[0], std::uint16_t{10});
  CHECK_EQ(got.sequence[1], std::uint16_t{20});  // FIFO: the waiting sender goes next
}

AMBIENCE_TEST(send_rejects_what_the_line_cannot_carry) {
  static Cable<4096> storage;
  Cable<4096>* cable = &storage;
  StaticSerialLink<kFragment> left(cable->a);
  std::array<std::byte, kFragment + 1> big{};
  Status too_big = Status::internal, wrong_peer = Status::internal, down = Status::internal;
  auto run = [](Task<Status> t, Status* out) -> Task<void> { *out = co_await std::move(t); };
  CHECK(spawn(run(left->send(Peer{0}, single(1, big.size()), big), &too_big)) == Status::ok);
  CHECK(spawn(run(left->send(Peer{1}, single(1, 4), std::span<const std::byte>(big.data(), 4)), &wrong_peer)) ==
        Status::ok);
  Scheduler::current().run_until_idle();
  CHECK(too_big == Status::bad_message);
  CHECK(wrong_peer == Status::not_found);
  cable->a.set_down(true);
  CHECK(spawn(run(left->send(Peer{0}, single(2, 4), std::span<const std::byte>(big.data(), 4)), &down)) == Status::ok);
  Scheduler::current().run_until_idle();
  CHECK(down == Status::unavailable);
  CHECK_EQ(left->counters().send_errors, std::uint64_t{2});
  CHECK_EQ(left->counters().frames_sent, std::uint64_t{0});
}

}  // namespace
