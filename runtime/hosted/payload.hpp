// The payload protocol of one ring element on a hosted node, the only one every layer uses (the
// supervisor's forwarder, the runtime's transports and servers): a payload up to the element's
// capacity travels inline; a larger one lies in the sender's payload arena, which the receiver
// maps read-only, and the element holds a BufferRef to it with kFlagArenaPayload set.
//
// Readers get a view into shared memory the peer can still write: whoever validates or decodes
// it must copy it to private memory first (or, for borrowed arguments, accept that it may change).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "kernel/arch/hosted_linux/arena.hpp"
#include "kernel/core/status.hpp"
#include "kernel/ipc/channel.hpp"

namespace ambience::hosted {

// ElementHeader::flags bits.
inline constexpr std::uint8_t kFlagArenaPayload = 1;  // the payload is a BufferRef into the sender's arena
inline constexpr std::uint8_t kFlagSharedCall = 2;    // the payload is a zero-copy call block (lidl_sharing)

// The payload of element `index` with header `h` as the receiver sees it: inline, or the buffer
// it names in `sender_arena` (the sender's arena as mapped here). `ok` false if it is malformed
// (a size beyond the element, a reference outside the arena): bad input from the peer.
inline std::span<const std::byte> read_payload(ipc::Channel& channel, std::uint32_t index, const ipc::ElementHeader& h,
                                               std::span<const std::byte> sender_arena, bool& ok) {
  ok = h.size <= channel.payload_capacity();
  if (!ok) return {};
  const std::byte* inline_bytes = channel.payload(index);
  if ((h.flags & kFlagArenaPayload) == 0) return {inline_bytes, h.size};
  BufferRef ref;
  ok = h.size == sizeof ref;
  if (!ok) return {};
  std::memcpy(&ref, inline_bytes, sizeof ref);
  return resolve(sender_arena.data(), sender_arena.size(), ref, ok);
}

// What write_payload() stored: the header's size and flags to send with, and the arena buffer
// (if any) that must stay alive until the receiver is done reading it.
struct WrittenPayload {
  std::uint32_t size = 0;
  std::uint8_t flags = 0;
  SharedBuffer buffer;
};

// Stores `bytes` as the payload of element `index`: inline when it fits, else copied into
// `arena` (the sender's, mapped read-only by the receiver). no_memory if the arena is full or
// absent.
inline Status write_payload(ipc::Channel& channel, std::uint32_t index, std::span<const std::byte> bytes, Arena* arena,
                            WrittenPayload& out) {
  out = WrittenPayload{};
  if (bytes.size() <= channel.payload_capacity()) {
    if (!bytes.empty()) std::memcpy(channel.payload(index), bytes.data(), bytes.size());
    out.size = static_cast<std::uint32_t>(bytes.size());
    return Status::ok;
  }
  if (arena != nullptr) out.buffer = arena->allocate(bytes.size(), 64);
  if (!out.buffer) return Status::no_memory;
  std::memcpy(out.buffer.data(), bytes.data(), bytes.size());
  const BufferRef ref = out.buffer.ref();
  std::memcpy(channel.payload(index), &ref, sizeof ref);
  out.size = sizeof ref;
  out.flags = kFlagArenaPayload;
  return Status::ok;
}

}  // namespace ambience::hosted
