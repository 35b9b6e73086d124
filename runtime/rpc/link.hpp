// The seam between the RPC layer of a node and its link drivers (UDP sockets on hosted nodes,
// a serial line on both targets, UDP over the camera board's Ethernet).
//
// A link moves link frames (kernel/net/link.hpp: header + one fragment of a message) to and from
// the peers of one network. The driver owns the encoding of its medium (a datagram per frame
// for UDP, COBS between 0x00 delimiters for serial, see kernel/net) and drops what does not
// decode (counting it); the RPC layer above fragments, reassembles, and runs the calls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "kernel/core/status.hpp"
#include "kernel/core/task.hpp"
#include "kernel/net/link.hpp"

namespace ambience::rpc {

// A peer as one link knows it: an index into the link's own table of peers (a UDP link: one
// entry per distinct address:port it sent to or heard from; a serial line: always 0).
struct Peer {
  std::uint32_t id = 0;
  friend bool operator==(Peer, Peer) = default;
};

// Receives the frames a link decoded, in arrival order, from the link's receive path (the node's
// loop, never an interrupt handler). `frame.payload` is valid only during the call.
class FrameSink {
 public:
  virtual void on_frame(Peer from, const net::LinkFrame& frame) = 0;

 protected:
  ~FrameSink() = default;
};

// What a link counts (for `ambience cluster status` and the node log).
struct LinkCounters {
  std::uint64_t frames_sent = 0;
  std::uint64_t frames_received = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t frames_dropped = 0;  // did not decode (CRC, framing, header), or the sink was busy
  std::uint64_t send_errors = 0;     // the medium refused (no route, socket error)
};

class Link {
 public:
  // The peer at a plan address on this network ("10.0.0.2" and a UDP port; a serial line ignores
  // both). A UDP link on a hosted node applies the runner's address map here (see hosted/udp_link.hpp).
  // not_found if the address cannot be resolved; no_memory if the peer table is full.
  virtual Result<Peer> resolve(std::string_view address, std::uint16_t port) = 0;

  // Largest fragment payload one frame carries on this medium (its MTU minus the link overhead).
  virtual std::size_t max_fragment() const = 0;

  // Sends one frame. Completes when the frame is handed to the medium: at once for a datagram,
  // when the transmit buffer took every byte for a serial line (back-pressure, never an
  // unbounded queue). unavailable if the medium is down.
  virtual Task<Status> send(Peer to, const net::LinkHeader& header, std::span<const std::byte> payload) = 0;

  // Takes what the medium received since the last poll and hands every frame that decodes to the
  // sink; never blocks. The node's loop calls it when it wakes (a link must make the loop wake
  // when data arrives: an interrupt on a board, the hosted loop's wake word or fd on Linux).
  // Returns the number of frames delivered.
  virtual std::size_t poll() = 0;

  virtual const LinkCounters& counters() const = 0;

  void attach(FrameSink* sink) { sink_ = sink; }

 protected:
  ~Link() = default;
  void deliver(Peer from, const net::LinkFrame& frame) {
    if (sink_ != nullptr) sink_->on_frame(from, frame);
  }

 private:
  FrameSink* sink_ = nullptr;
};

}  // namespace ambience::rpc
