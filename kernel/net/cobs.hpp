// Consistent Overhead Byte Stuffing (Cheshire & Baker, 1999): rewrites a byte string so that it
// contains no 0x00, which is then free to delimit frames on a byte stream. Overhead: one byte per
// 254 bytes plus one. Encoder and decoder write into caller buffers and never past their end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "kernel/core/status.hpp"

namespace ambience::net {

// Largest encoding of n bytes (without any delimiter).
constexpr std::size_t cobs_max_encoded_size(std::size_t n) { return n + n / 254 + 1; }

// Streaming encoder: put() the bytes of one frame (from several pieces, e.g. header, payload and
// CRC, without first copying them together), then finish().
class CobsEncoder {
 public:
  explicit CobsEncoder(std::span<std::byte> out) : out_(out) {}

  void put(std::byte b) {
    if (b == std::byte{0}) {
      close_block();
      return;
    }
    if (pos_ < out_.size()) {
      out_[pos_] = b;
    } else {
      overflow_ = true;
    }
    ++pos_;
    if (++code_ == 0xFF) close_block();
  }
  // Runs of non-zero bytes are copied in one loop with one bounds check per run; the byte form
  // handles zeros, full blocks and the end of the buffer.
  void put(std::span<const std::byte> bytes) {
    const std::byte* p = bytes.data();
    std::size_t n = bytes.size();
    while (n != 0) {
      const std::size_t block_room = 0xFF - code_;
      const std::size_t limit = n < block_room ? n : block_room;
      if (pos_ + limit > out_.size()) {  // near the end of `out`: the careful way
        put(*p++);
        --n;
        continue;
      }
      // Locals: stores through std::byte may alias the members, which would be reloaded.
      std::byte* out = out_.data() + pos_;
      const std::byte* q = p;
      const std::byte* const stop = p + limit;
      while (q != stop && *q != std::byte{0}) *out++ = *q++;
      const auto k = static_cast<std::size_t>(q - p);
      pos_ += k;
      code_ += static_cast<std::uint32_t>(k);
      p += k;
      n -= k;
      if (code_ == 0xFF) {
        close_block();
      } else if (n != 0) {  // stopped at a zero
        close_block();
        ++p;
        --n;
      }
    }
  }
  // The size of the encoding, or no_memory if it did not fit in `out` (whose content is then
  // unspecified).
  Result<std::size_t> finish() {
    if (code_at_ >= out_.size()) overflow_ = true;
    if (overflow_) return Status::no_memory;
    out_[code_at_] = static_cast<std::byte>(code_);
    return pos_;
  }

 private:
  void close_block() {
    if (code_at_ < out_.size()) {
      out_[code_at_] = static_cast<std::byte>(code_);
    } else {
      overflow_ = true;
    }
    code_at_ = pos_++;
    code_ = 1;
  }

  std::span<std::byte> out_;
  std::size_t code_at_ = 0;  // where the current block's code byte goes once its length is known
  std::size_t pos_ = 1;      // where the next data byte goes
  std::uint32_t code_ = 1;   // 1 + data bytes in the current block
  bool overflow_ = false;
};

// Whole-buffer forms. `in` of cobs_decode is one encoded frame without delimiters. Errors:
// no_memory (out too small), bad_message (empty input, a 0x00 inside, a block cut short).
Result<std::size_t> cobs_encode(std::span<const std::byte> in, std::span<std::byte> out);
Result<std::size_t> cobs_decode(std::span<const std::byte> in, std::span<std::byte> out);

}  // namespace ambience::net
