#include "kernel/net/link.hpp"

#include "kernel/net/bytes.hpp"
#include "kernel/net/crc32.hpp"

namespace ambience::net {

using detail::load_le;
using detail::store_le;

LinkError check_link_header(const LinkHeader& h) {
  if (h.flags != 0) return LinkError::unknown_flags;
  if (h.fragment_count == 0 || h.fragment_index >= h.fragment_count) return LinkError::bad_fragment;
  const std::uint64_t end = std::uint64_t{h.offset} + h.payload_length;
  if (end > h.message_length) return LinkError::bad_offset;
  const bool last = h.fragment_index + 1 == h.fragment_count;
  if (last && end != h.message_length) return LinkError::bad_offset;
  if (h.fragment_index == 0 && h.offset != 0) return LinkError::bad_offset;
  // Only the last fragment may be empty (a zero-length message is one empty fragment): an empty
  // middle fragment would let a sender claim up to 255 fragments without carrying data.
  if (!last && h.payload_length == 0) return LinkError::bad_offset;
  return LinkError::none;
}

void write_link_header(const LinkHeader& h, std::byte* out) {
  out[0] = std::byte{kLinkVersion};
  out[1] = std::byte{h.flags};
  store_le<std::uint16_t>(out + 2, h.sequence);
  store_le<std::uint16_t>(out + 4, h.message_id);
  out[6] = std::byte{h.fragment_index};
  out[7] = std::byte{h.fragment_count};
  store_le<std::uint32_t>(out + 8, h.offset);
  store_le<std::uint32_t>(out + 12, h.message_length);
  store_le<std::uint16_t>(out + 16, h.payload_length);
}

LinkHeader read_link_header(const std::byte* in) {
  LinkHeader h;
  h.flags = std::to_integer<std::uint8_t>(in[1]);
  h.sequence = load_le<std::uint16_t>(in + 2);
  h.message_id = load_le<std::uint16_t>(in + 4);
  h.fragment_index = std::to_integer<std::uint8_t>(in[6]);
  h.fragment_count = std::to_integer<std::uint8_t>(in[7]);
  h.offset = load_le<std::uint32_t>(in + 8);
  h.message_length = load_le<std::uint32_t>(in + 12);
  h.payload_length = load_le<std::uint16_t>(in + 16);
  return h;
}

LinkError decode_link_body(std::span<const std::byte> body, LinkFrame& out) {
  if (body.size() < kLinkOverhead) return LinkError::too_short;
  const std::size_t covered = body.size() - kLinkCrcSize;
  if (crc32(body.first(covered)) != load_le<std::uint32_t>(body.data() + covered)) return LinkError::crc_mismatch;
  if (std::to_integer<std::uint8_t>(body[0]) != kLinkVersion) return LinkError::bad_version;
  const LinkHeader h = read_link_header(body.data());
  if (h.payload_length != covered - kLinkHeaderSize) return LinkError::length_mismatch;
  if (const LinkError e = check_link_header(h); e != LinkError::none) return e;
  out.header = h;
  out.payload = body.subspan(kLinkHeaderSize, h.payload_length);
  return LinkError::none;
}

}  // namespace ambience::net
