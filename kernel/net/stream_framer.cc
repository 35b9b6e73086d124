#include "kernel/net/stream_framer.hpp"

#include "kernel/net/bytes.hpp"
#include "kernel/net/crc32.hpp"

namespace ambience::net {

Result<std::size_t> encode_stream_frame(LinkHeader h, std::span<const std::byte> payload, std::span<std::byte> out) {
  if (payload.size() > 0xFFFF) return Status::bad_message;
  h.payload_length = static_cast<std::uint16_t>(payload.size());
  if (check_link_header(h) != LinkError::none) return Status::bad_message;
  if (out.size() < 2) return Status::no_memory;
  std::byte header[kLinkHeaderSize];
  write_link_header(h, header);
  std::byte crc[kLinkCrcSize];
  detail::store_le<std::uint32_t>(crc, crc32_final(crc32_update(crc32_update(kCrc32Init, header), payload)));
  out[0] = std::byte{0};
  CobsEncoder encoder(out.subspan(1, out.size() - 2));
  encoder.put(header);
  encoder.put(payload);
  encoder.put(crc);
  Result<std::size_t> n = encoder.finish();
  if (!n) return n.status();
  out[1 + *n] = std::byte{0};
  return *n + 2;
}

const LinkFrame* StreamDecoder::end_of_frame() {
  const State state = state_;
  const bool started = started_;
  const bool cut = block_left_ != 0;
  const std::size_t size = size_;
  state_ = State::in_frame;
  size_ = 0;
  block_left_ = 0;
  zero_pending_ = false;
  started_ = false;
  if (state == State::skipping || !started) return nullptr;  // oversize was counted when it happened
  if (cut) {
    ++counters_.framing_errors;
    return nullptr;
  }
  switch (decode_link_body(body_.first(size), frame_)) {
    case LinkError::none: break;
    case LinkError::too_short: ++counters_.framing_errors; return nullptr;
    case LinkError::crc_mismatch: ++counters_.crc_errors; return nullptr;
    default: ++counters_.header_errors; return nullptr;
  }
  ++counters_.frames_ok;
  sequence_.observe(frame_.header.sequence);
  counters_.frames_missed = sequence_.frames_missed;
  counters_.sequence_jumps = sequence_.sequence_jumps;
  return &frame_;
}

}  // namespace ambience::net
