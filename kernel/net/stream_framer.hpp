// Framing for byte streams (UART, serial over USB, a TCP stream): each link frame body
// (link.hpp) is COBS-encoded and written between two 0x00 delimiters:
//
//   0x00  COBS(header | payload | CRC-32)  0x00
//
// The leading delimiter costs one byte per frame and ends whatever garbage a receiver saw before
// it, so a frame following line noise or a cut frame is still received; back-to-back frames give
// an empty frame between the two delimiters, which the decoder skips without counting it.
//
// StreamDecoder is fed bytes as they arrive (from an ISR's ring buffer, one byte or a chunk at a
// time). It un-stuffs COBS in place into its body buffer (no second copy), so its memory is the
// largest body it accepts; a longer frame is dropped at the first byte that does not fit and the
// decoder resynchronises at the next 0x00.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "kernel/core/status.hpp"
#include "kernel/net/cobs.hpp"
#include "kernel/net/link.hpp"

namespace ambience::net {

// Bytes encode_stream_frame() may write for a payload of n bytes (both delimiters included).
constexpr std::size_t stream_frame_bound(std::size_t payload) {
  return 2 + cobs_max_encoded_size(kLinkOverhead + payload);
}

// Writes one frame into `out`. h.payload_length is taken from payload.size(). Errors: no_memory
// (out too small; see stream_frame_bound), bad_message (header inconsistent with the payload,
// see check_link_header — the encoder never emits what a decoder rejects).
Result<std::size_t> encode_stream_frame(LinkHeader h, std::span<const std::byte> payload, std::span<std::byte> out);

struct StreamCounters {
  std::uint32_t frames_ok = 0;
  std::uint32_t crc_errors = 0;
  std::uint32_t framing_errors = 0;  // COBS cut short, or fewer bytes than header + CRC
  std::uint32_t header_errors = 0;   // CRC right, header invalid (another version, bad fields)
  std::uint32_t oversize = 0;        // longer than the body buffer: dropped
  std::uint32_t frames_missed = 0;   // sum of forward sequence gaps between good frames
  std::uint32_t sequence_jumps = 0;  // sequence went backwards or far ahead (the peer restarted)
};

class StreamDecoder {
 public:
  // `body` holds one decoded frame body: kLinkOverhead + the largest payload to accept.
  explicit StreamDecoder(std::span<std::byte> body) : body_(body) {}
  StreamDecoder(const StreamDecoder&) = delete;
  StreamDecoder& operator=(const StreamDecoder&) = delete;

  // One byte from the link. Returns the frame this byte completed, if it completed a valid one;
  // its payload points into the body buffer and stays valid until the next push().
  const LinkFrame* push(std::byte b) {
    if (b != std::byte{0}) {
      if (state_ == State::in_frame) accept(std::to_integer<std::uint8_t>(b));
      return nullptr;
    }
    return end_of_frame();
  }

  // A chunk of bytes; on_frame(const LinkFrame&) is called for every valid frame, in order.
  template <class OnFrame>
  void feed(std::span<const std::byte> bytes, OnFrame&& on_frame) {
    const std::byte* p = bytes.data();
    const std::byte* const end = p + bytes.size();
    while (p != end) {
      // The data bytes of a COBS block are copied in one loop until the block, the input or the
      // buffer ends or a 0x00 arrives; code bytes, delimiters and overflow take push().
      if (state_ == State::in_frame && block_left_ != 0) {
        std::size_t n = block_left_;
        if (n > static_cast<std::size_t>(end - p)) n = static_cast<std::size_t>(end - p);
        if (n > body_.size() - size_) n = body_.size() - size_;
        std::byte* out = body_.data() + size_;  // a local: std::byte stores alias members
        const std::byte* q = p;
        const std::byte* const stop = p + n;
        while (q != stop && *q != std::byte{0}) *out++ = *q++;
        const auto k = static_cast<std::size_t>(q - p);
        size_ += k;
        block_left_ = static_cast<std::uint8_t>(block_left_ - k);
        p += k;
        if (k != 0) continue;
      }
      if (const LinkFrame* f = push(*p++)) on_frame(*f);
    }
  }

  // Back to the state after construction: no partial frame, counters zero, no sequence seen.
  void reset() {
    size_ = 0;
    block_left_ = 0;
    zero_pending_ = false;
    started_ = false;
    state_ = State::in_frame;
    sequence_ = {};
    counters_ = {};
  }

  // Drops a partial frame (e.g. after the UART reported a break or an overrun): bytes up to the
  // next 0x00 are ignored.
  void resync() { state_ = State::skipping; }

  const StreamCounters& counters() const { return counters_; }
  std::size_t max_payload() const { return body_.size() > kLinkOverhead ? body_.size() - kLinkOverhead : 0; }

 private:
  enum class State : std::uint8_t { in_frame, skipping };

  void accept(std::uint8_t b) {
    started_ = true;
    if (block_left_ == 0) {  // a COBS code byte
      if (zero_pending_) emit(std::byte{0});
      block_left_ = static_cast<std::uint8_t>(b - 1);
      zero_pending_ = b != 0xFF;
    } else {
      emit(std::byte{b});
      --block_left_;
    }
  }
  void emit(std::byte b) {
    if (size_ == body_.size()) {
      ++counters_.oversize;
      state_ = State::skipping;
      return;
    }
    body_[size_++] = b;
  }
  const LinkFrame* end_of_frame();

  std::span<std::byte> body_;
  std::size_t size_ = 0;
  std::uint8_t block_left_ = 0;  // data bytes still expected in the current COBS block
  bool zero_pending_ = false;    // the current block ends with an (implicit) zero unless last
  bool started_ = false;         // at least one byte of this frame seen
  State state_ = State::in_frame;
  SequenceTracker sequence_;
  StreamCounters counters_;
  LinkFrame frame_;
};

// A StreamDecoder with its own body buffer for payloads up to MaxPayload bytes.
template <std::size_t MaxPayload>
class StaticStreamDecoder : private std::array<std::byte, kLinkOverhead + MaxPayload>, public StreamDecoder {
  using Storage = std::array<std::byte, kLinkOverhead + MaxPayload>;

 public:
  StaticStreamDecoder() : Storage{}, StreamDecoder(std::span<std::byte>(static_cast<Storage&>(*this))) {}
  // The base refers to this object's own buffer: copies would share (then outlive) it.
  StaticStreamDecoder(const StaticStreamDecoder&) = delete;
  StaticStreamDecoder& operator=(const StaticStreamDecoder&) = delete;
};

}  // namespace ambience::net
