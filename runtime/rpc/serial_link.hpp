// A Link over one serial line (runtime/rpc/link.hpp): link frames as a COBS byte stream
// (kernel/net/stream_framer.hpp) through a BytePort that each target provides — the boards'
// interrupt-driven CMSDK UARTs (runtime/cortex_m/uart_port.hpp), a pty or a unix socket on
// Linux (runtime/hosted/serial_port.hpp), an in-memory pipe in tests.
//
// One line joins exactly two nodes, so there is one peer, Peer{0}. Memory is fixed at
// construction (the caller's spans, or StaticSerialLink's arrays): one TX staging buffer of one
// encoded frame and one decoder body; nothing is allocated on a microcontroller.
#pragma once

#include <array>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "kernel/core/scheduler.hpp"
#include "kernel/core/status.hpp"
#include "kernel/core/task.hpp"
#include "kernel/net/link.hpp"
#include "kernel/net/stream_framer.hpp"
#include "runtime/rpc/link.hpp"

namespace ambience::rpc {

// The byte stream under a SerialLink. Implementations: one per target (see above).
class BytePort {
 public:
  // Completes when the port's transmit buffer has taken every byte (not when they left the
  // wire); waits on the loop while the buffer is full, never spins. unavailable: the line is
  // down (the peer closed, the device is gone); then an unknown prefix of the bytes was sent.
  // One write at a time: the SerialLink serialises its senders.
  virtual Task<Status> write(std::span<const std::byte> bytes) = 0;

  // Copies what has arrived (at most out.size() bytes) and returns the count; never blocks.
  virtual std::size_t read(std::span<std::byte> out) = 0;

  // True once for every receive fault since the last call (a UART overrun or break, received
  // bytes dropped because the buffer was full): the link then drops its partial frame.
  virtual bool take_rx_fault() { return false; }

  // `r` is posted to the kernel loop whenever bytes arrive (an MCU port posts it from its RX
  // interrupt). Ports whose loop is woken another way (a hosted fd) may ignore it; the node's
  // loop then calls SerialLink::poll() itself.
  virtual void notify_on_receive(Runnable* r) { (void)r; }

 protected:
  ~BytePort() = default;
};

// What the link counts beyond LinkCounters (the stream decoder's own counters are reachable too).
struct SerialCounters {
  std::uint64_t rx_faults = 0;     // port-reported overruns/breaks (each drops the partial frame)
  std::uint64_t send_waits = 0;    // sends that waited for another send to finish
  std::uint64_t polls = 0;         // poll() calls
};

class SerialLink final : public Link {
 public:
  // Frame payload chosen for a 115200-baud line: a 256-byte fragment is a 282-byte frame on the
  // wire (22 bytes header + CRC, 2 delimiters, 2 COBS codes), ~24.5 ms at 11 520 B/s. A frame
  // lost to noise then costs ~25 ms of line time (not a whole 1 KiB message, ~90 ms), while the
  // framing overhead stays at 9 %; the decoder's RAM is 278 bytes.
  static constexpr std::size_t kDefaultMaxFragment = 256;

  // `tx_stage` holds one encoded frame: net::stream_frame_bound(max_fragment) bytes or more.
  // `rx_body` is the decoder's body buffer: net::kLinkOverhead + max_fragment or more.
  SerialLink(BytePort& port, std::size_t max_fragment, std::span<std::byte> tx_stage, std::span<std::byte> rx_body,
             Scheduler& scheduler = Scheduler::current());
  SerialLink(const SerialLink&) = delete;
  SerialLink& operator=(const SerialLink&) = delete;

  // Any address resolves to the one peer at the other end of the line.
  Result<Peer> resolve(std::string_view address, std::uint16_t port) override;
  std::size_t max_fragment() const override { return max_fragment_; }
  // Encodes into the staging buffer and writes it; a second sender waits (FIFO) until the first
  // frame is in the port's buffer. bad_message: a fragment longer than max_fragment() or a
  // header inconsistent with it; not_found: a peer other than Peer{0}; unavailable: the port.
  Task<Status> send(Peer to, const net::LinkHeader& header, std::span<const std::byte> payload) override;
  std::size_t poll() override;
  const LinkCounters& counters() const override;

  const net::StreamCounters& stream_counters() const { return decoder_.counters(); }
  const SerialCounters& serial_counters() const { return serial_; }

 private:
  // A sender waiting for the staging buffer: lives in the waiting coroutine's frame.
  struct TxWaiter : Runnable {
    std::coroutine_handle<> handle;
    TxWaiter* next = nullptr;
  };
  struct TxTurn;
  void release_tx();
  static void run_poll(Runnable* r);

  BytePort& port_;
  Scheduler& scheduler_;
  std::size_t max_fragment_;
  std::span<std::byte> tx_stage_;
  net::StreamDecoder decoder_;
  bool tx_busy_ = false;
  TxWaiter* tx_waiters_head_ = nullptr;
  TxWaiter* tx_waiters_tail_ = nullptr;
  struct PollNode : Runnable {
    SerialLink* link;
  } poll_node_;
  mutable LinkCounters counters_;
  SerialCounters serial_;
};

// A SerialLink with its own buffers for fragments of up to MaxFragment bytes.
template <std::size_t MaxFragment = SerialLink::kDefaultMaxFragment>
class StaticSerialLink {
 public:
  explicit StaticSerialLink(BytePort& port, Scheduler& scheduler = Scheduler::current())
      : link_(port, MaxFragment, tx_stage_, rx_body_, scheduler) {}
  SerialLink& link() { return link_; }
  SerialLink* operator->() { return &link_; }

 private:
  std::array<std::byte, net::stream_frame_bound(MaxFragment)> tx_stage_{};
  std::array<std::byte, net::kLinkOverhead + MaxFragment> rx_body_{};
  SerialLink link_;  // after the buffers it refers to
};

}  // namespace ambience::rpc
