#include "runtime/rpc/serial_link.hpp"

namespace ambience::rpc {

// Suspends a sender until the staging buffer is its own (FIFO among waiters).
struct SerialLink::TxTurn {
  SerialLink& link;
  TxWaiter waiter{};
  bool await_ready() noexcept {
    if (link.tx_busy_) return false;
    link.tx_busy_ = true;
    return true;
  }
  void await_suspend(std::coroutine_handle<> h) noexcept {
    ++link.serial_.send_waits;
    waiter.handle = h;
    waiter.run = [](Runnable* r) { static_cast<TxWaiter*>(r)->handle.resume(); };
    if (link.tx_waiters_tail_ != nullptr) {
      link.tx_waiters_tail_->next = &waiter;
    } else {
      link.tx_waiters_head_ = &waiter;
    }
    link.tx_waiters_tail_ = &waiter;
  }
  // A resumed waiter was handed the buffer by release_tx (tx_busy_ stayed set).
  void await_resume() noexcept {}
};

SerialLink::SerialLink(BytePort& port, std::size_t max_fragment, std::span<std::byte> tx_stage,
                       std::span<std::byte> rx_body, Scheduler& scheduler)
    : port_(port), scheduler_(scheduler), max_fragment_(max_fragment), tx_stage_(tx_stage), decoder_(rx_body) {
  // Buffers smaller than the fragment size would turn every full fragment into an error.
  if (tx_stage_.size() < net::stream_frame_bound(max_fragment) || decoder_.max_payload() < max_fragment) {
    fatal("SerialLink: buffers smaller than max_fragment needs");
  }
  poll_node_.run = &SerialLink::run_poll;
  poll_node_.link = this;
  port_.notify_on_receive(&poll_node_);
}

void SerialLink::run_poll(Runnable* r) { static_cast<PollNode*>(r)->link->poll(); }

Result<Peer> SerialLink::resolve(std::string_view, std::uint16_t) { return Peer{0}; }

void SerialLink::release_tx() {
  TxWaiter* next = tx_waiters_head_;
  if (next == nullptr) {
    tx_busy_ = false;
    return;
  }
  tx_waiters_head_ = next->next;
  if (tx_waiters_head_ == nullptr) tx_waiters_tail_ = nullptr;
  scheduler_.post(next);  // the buffer passes to it directly: no sender can slip in between
}

Task<Status> SerialLink::send(Peer to, const net::LinkHeader& header, std::span<const std::byte> payload) {
  if (!(to == Peer{0})) co_return Status::not_found;
  if (payload.size() > max_fragment_) {
    ++counters_.send_errors;
    co_return Status::bad_message;
  }
  co_await TxTurn{*this};
  const Result<std::size_t> encoded = net::encode_stream_frame(header, payload, tx_stage_);
  if (!encoded.ok()) {
    ++counters_.send_errors;
    release_tx();
    co_return encoded.status();
  }
  const Status written = co_await port_.write(tx_stage_.first(encoded.value()));
  release_tx();
  if (written != Status::ok) {
    ++counters_.send_errors;
    co_return written;
  }
  ++counters_.frames_sent;
  counters_.bytes_sent += encoded.value();
  co_return Status::ok;
}

std::size_t SerialLink::poll() {
  ++serial_.polls;
  std::size_t delivered = 0;
  // Small chunks: the decoder un-stuffs in place, so the chunk is only a copy-out of the port's
  // ring buffer and 64 bytes keep the loop's stack use low on a microcontroller.
  std::array<std::byte, 64> chunk;
  for (;;) {
    if (port_.take_rx_fault()) {
      ++serial_.rx_faults;
      decoder_.resync();
    }
    const std::size_t n = port_.read(chunk);
    if (n == 0) break;
    counters_.bytes_received += n;
    decoder_.feed(std::span<const std::byte>(chunk.data(), n), [&](const net::LinkFrame& frame) {
      ++counters_.frames_received;
      ++delivered;
      deliver(Peer{0}, frame);
    });
  }
  return delivered;
}

const LinkCounters& SerialLink::counters() const {
  const net::StreamCounters& s = decoder_.counters();
  counters_.frames_dropped = std::uint64_t{s.crc_errors} + s.framing_errors + s.header_errors + s.oversize;
  return counters_;
}

}  // namespace ambience::rpc
