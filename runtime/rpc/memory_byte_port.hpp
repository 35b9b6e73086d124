// Tests only: two BytePorts joined by bounded in-memory byte queues (a null-modem cable), so a
// SerialLink can be tested on any target without a device. A writer whose queue is full waits
// on the loop until the other end reads — the same back-pressure a UART's TX buffer gives.
#pragma once

#include <array>
#include <cstddef>
#include <span>

#include "kernel/core/job.hpp"
#include "kernel/core/task.hpp"
#include "runtime/rpc/serial_link.hpp"

namespace ambience::rpc::testing {

// One direction of the cable: a bounded FIFO of bytes.
template <std::size_t Capacity>
class ByteQueue {
 public:
  std::size_t push(std::span<const std::byte> bytes) {
    std::size_t n = 0;
    while (n < bytes.size() && size_ < Capacity) {
      data_[(head_ + size_) % Capacity] = bytes[n++];
      ++size_;
    }
    return n;
  }
  std::size_t pop(std::span<std::byte> out) {
    std::size_t n = 0;
    while (n < out.size() && size_ != 0) {
      out[n++] = data_[head_];
      head_ = (head_ + 1) % Capacity;
      --size_;
    }
    return n;
  }
  std::size_t size() const { return size_; }
  static constexpr std::size_t capacity() { return Capacity; }

 private:
  std::array<std::byte, Capacity> data_{};
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

template <std::size_t Capacity>
class MemoryBytePort final : public BytePort {
 public:
  MemoryBytePort(ByteQueue<Capacity>& out, ByteQueue<Capacity>& in) : out_(out), in_(in) {}

  // The other end of the cable; its reads make room for our writes.
  void connect(MemoryBytePort& peer) { peer_ = &peer; }

  Task<Status> write(std::span<const std::byte> bytes) override {
    while (!bytes.empty()) {
      if (down_) co_return Status::unavailable;
      const std::size_t n = out_.push(bytes);
      if (n != 0) notify_peer();
      bytes = bytes.subspan(n);
      if (bytes.empty()) break;
      ++write_waits_;
      room_.reset();
      waiting_ = true;
      co_await room_;
    }
    co_return Status::ok;
  }

  std::size_t read(std::span<std::byte> out) override {
    const std::size_t n = in_.pop(out);
    if (n != 0 && peer_ != nullptr) peer_->made_room();
    return n;
  }

  bool take_rx_fault() override {
    const bool f = fault_;
    fault_ = false;
    return f;
  }
  void notify_on_receive(Runnable* r) override { on_receive_ = r; }

  // Test controls: bytes straight onto the wire towards the other end (line noise, cut frames);
  // a receive fault as a UART would report it; the line going down.
  void inject(std::span<const std::byte> bytes) {
    out_.push(bytes);
    if (peer_ != nullptr) peer_->arrived();
  }
  void raise_rx_fault() { fault_ = true; }
  void set_down(bool down) {
    down_ = down;
    if (down && waiting_) made_room();
  }
  std::size_t write_waits() const { return write_waits_; }
  // Called by the writer's side after it queued bytes: posts our receive notification.
  void arrived() {
    if (on_receive_ != nullptr) Scheduler::current().post(on_receive_);
  }
  void notify_peer() {
    if (peer_ != nullptr) peer_->arrived();
  }

 private:
  void made_room() {
    if (!waiting_) return;
    waiting_ = false;
    room_.complete(Status::ok);
  }

  ByteQueue<Capacity>& out_;
  ByteQueue<Capacity>& in_;
  MemoryBytePort* peer_ = nullptr;
  Job<Status> room_;
  bool waiting_ = false;
  bool fault_ = false;
  bool down_ = false;
  std::size_t write_waits_ = 0;
  Runnable* on_receive_ = nullptr;
};

}  // namespace ambience::rpc::testing
