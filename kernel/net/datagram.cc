#include "kernel/net/datagram.hpp"

#include <cstring>

#include "kernel/net/bytes.hpp"
#include "kernel/net/crc32.hpp"

namespace ambience::net {

Result<std::size_t> encode_datagram(LinkHeader h, std::span<const std::byte> payload, std::span<std::byte> out) {
  if (payload.size() > 0xFFFF) return Status::bad_message;
  h.payload_length = static_cast<std::uint16_t>(payload.size());
  if (check_link_header(h) != LinkError::none) return Status::bad_message;
  const std::size_t size = datagram_size(payload.size());
  if (out.size() < size) return Status::no_memory;
  write_link_header(h, out.data());
  if (!payload.empty()) std::memcpy(out.data() + kLinkHeaderSize, payload.data(), payload.size());
  const std::size_t covered = kLinkHeaderSize + payload.size();
  detail::store_le<std::uint32_t>(out.data() + covered, crc32(out.first(covered)));
  return size;
}

}  // namespace ambience::net
