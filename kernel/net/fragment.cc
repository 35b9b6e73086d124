#include "kernel/net/fragment.hpp"

#include <cstring>

namespace ambience::net {

std::optional<ReassembledMessage> Reassembler::accept(std::uint32_t peer, const LinkFrame& frame,
                                                      std::uint64_t now_us) {
  expire(now_us);
  const LinkHeader& h = frame.header;
  if (h.message_length > max_message_) {
    ++counters_.too_large;
    return std::nullopt;
  }
  if (h.fragment_count == 1) {  // the link checked offset 0 and length = message length
    ++counters_.messages;
    return ReassembledMessage{peer, h.message_id, frame.payload, -1};
  }
  Slot* s = find(peer, h.message_id);
  if (s != nullptr && (s->fragment_count != h.fragment_count || s->message_length != h.message_length)) {
    // The id was reused (the sender restarted, or ids wrapped while a message was stuck): the
    // newer message wins, the old one could not have completed consistently anyway.
    ++counters_.inconsistent;
    drop(*s);
    s = nullptr;
  }
  if (s == nullptr) {
    if (recently_delivered(peer, h)) {
      ++counters_.duplicates;
      return std::nullopt;
    }
    s = allocate();
    if (s == nullptr) {
      ++counters_.no_slot;
      return std::nullopt;
    }
    *s = Slot{};
    s->state = Slot::State::partial;
    s->fragment_count = h.fragment_count;
    s->message_id = h.message_id;
    s->peer = peer;
    s->message_length = h.message_length;
    s->started_us = now_us;
  }
  if (!learn_fragment_size(*s, h)) {
    ++counters_.inconsistent;
    drop(*s);
    return std::nullopt;
  }
  const std::uint32_t word = h.fragment_index / 32;
  const std::uint32_t bit = 1u << (h.fragment_index % 32);
  if (s->seen[word] & bit) {
    ++counters_.duplicates;
    return std::nullopt;
  }
  if (!frame.payload.empty()) std::memcpy(buffer(*s) + h.offset, frame.payload.data(), frame.payload.size());
  s->seen[word] |= bit;
  if (++s->received < s->fragment_count) return std::nullopt;
  s->state = Slot::State::held;
  ++counters_.messages;
  recent_[next_recent_] = Recent{peer, s->message_length, s->message_id, s->fragment_count};
  next_recent_ = (next_recent_ + 1) % kRecent;
  return ReassembledMessage{peer, h.message_id, std::span<const std::byte>(buffer(*s), s->message_length),
                            static_cast<int>(s - slots_.data())};
}

// Enforces the layout rule of fragment.hpp: all fragments but the last are F bytes at index * F,
// the last has 1..F bytes at (count - 1) * F. Every fragment of a message must imply the same F.
bool Reassembler::learn_fragment_size(Slot& s, const LinkHeader& h) {
  const std::uint64_t count = h.fragment_count;
  std::uint64_t f = 0;
  if (h.fragment_index + 1u < count) {
    f = h.payload_length;
    if (std::uint64_t{h.offset} != h.fragment_index * f) return false;
  } else {
    if (h.offset % (count - 1) != 0) return false;
    f = h.offset / (count - 1);
    if (h.payload_length == 0 || h.payload_length > f) return false;
  }
  if (f == 0) return false;
  if (s.fragment_size == 0) {
    if (s.message_length <= (count - 1) * f || s.message_length > count * f) return false;
    s.fragment_size = static_cast<std::uint32_t>(f);
    return true;
  }
  return s.fragment_size == f;
}

void Reassembler::release(const ReassembledMessage& message) {
  if (message.slot < 0 || static_cast<std::size_t>(message.slot) >= slots_.size()) return;
  Slot& s = slots_[static_cast<std::size_t>(message.slot)];
  if (s.state == Slot::State::held) drop(s);
}

std::size_t Reassembler::expire(std::uint64_t now_us) {
  std::size_t dropped = 0;
  for (Slot& s : slots_) {
    if (s.state == Slot::State::partial && now_us >= s.started_us && now_us - s.started_us >= timeout_us_) {
      drop(s);
      ++dropped;
    }
  }
  counters_.timeouts += static_cast<std::uint32_t>(dropped);
  return dropped;
}

std::size_t Reassembler::in_progress() const {
  std::size_t n = 0;
  for (const Slot& s : slots_) n += s.state == Slot::State::partial;
  return n;
}

bool Reassembler::recently_delivered(std::uint32_t peer, const LinkHeader& h) const {
  for (const Recent& r : recent_) {
    if (r.fragment_count == h.fragment_count && r.peer == peer && r.message_id == h.message_id &&
        r.message_length == h.message_length)
      return true;
  }
  return false;
}

Reassembler::Slot* Reassembler::find(std::uint32_t peer, std::uint16_t message_id) {
  for (Slot& s : slots_) {
    if (s.state == Slot::State::partial && s.peer == peer && s.message_id == message_id) return &s;
  }
  return nullptr;
}

Reassembler::Slot* Reassembler::allocate() {
  if (storage_.size() < slots_.size() * max_message_) return nullptr;  // misconfigured: refuse
  for (Slot& s : slots_) {
    if (s.state == Slot::State::free) return &s;
  }
  return nullptr;
}

}  // namespace ambience::net
