// Messages larger than a link's MTU: LinkSender splits a message into link frames (sequence
// numbers per frame, one message id per message); Reassembler puts fragments back together with
// a bounded number of messages in progress, in bounded memory, with a reassembly timeout.
//
// Fragment layout (what LinkSender produces and Reassembler insists on): every fragment but the
// last carries exactly F bytes at offset index * F; the last carries the remaining 1..F bytes.
// With that rule a message is complete exactly when every index has arrived — no interval
// bookkeeping, and a hostile sender cannot leave a gap of stale bytes in the buffer or overlap
// fragments.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "kernel/core/status.hpp"
#include "kernel/net/link.hpp"

namespace ambience::net {

// Fragments a message of `size` bytes needs with `max_fragment` payload bytes per frame (≥ 1).
constexpr std::size_t fragment_count(std::size_t size, std::size_t max_fragment) {
  return size == 0 ? 1 : (size + max_fragment - 1) / max_fragment;
}

// The sending half of one link: numbers frames and messages, splits messages.
class LinkSender {
 public:
  // max_fragment: payload bytes per frame = the link MTU - kLinkOverhead (on a serial link the
  // peer decoder's max_payload()); 1 .. 65535.
  // first_message_id: where message ids start. A node passes something that differs between its
  // boots (e.g. the low bits of its incarnation), so that right after a restart its ids do not
  // collide with the ones a receiver remembers from before (see Reassembler, recent messages).
  explicit LinkSender(std::size_t max_fragment, std::uint16_t first_message_id = 0)
      : max_fragment_(max_fragment), next_message_id_(first_message_id) {}

  // The fragments of one message, in order: `while (f.next(header, payload))` (for senders that
  // wait between frames, e.g. a coroutine on a serial line). The message keeps its id and the
  // frames their sequence numbers whether they are sent at once or over time.
  class Fragments {
   public:
    bool next(LinkHeader& header, std::span<const std::byte>& payload) {
      if (index_ >= count_) return false;
      const std::size_t offset = index_ * sender_->max_fragment_;
      const std::size_t size =
          message_.size() - offset < sender_->max_fragment_ ? message_.size() - offset : sender_->max_fragment_;
      header = header_;
      header.sequence = sender_->next_sequence_++;
      header.fragment_index = static_cast<std::uint8_t>(index_);
      header.offset = static_cast<std::uint32_t>(offset);
      header.payload_length = static_cast<std::uint16_t>(size);
      payload = message_.subspan(offset, size);
      ++index_;
      return true;
    }
    std::size_t count() const { return count_; }

   private:
    friend class LinkSender;
    LinkSender* sender_ = nullptr;
    std::span<const std::byte> message_;
    LinkHeader header_;
    std::size_t count_ = 0;
    std::size_t index_ = 0;
  };

  // Starts a message: no_memory if it needs more than kMaxFragments frames (too large for this
  // link), bad_message if max_fragment is invalid.
  Result<Fragments> fragments(std::span<const std::byte> message) {
    if (max_fragment_ == 0 || max_fragment_ > 0xFFFF) return Status::bad_message;
    const std::size_t count = fragment_count(message.size(), max_fragment_);
    if (count > kMaxFragments || message.size() > 0xFFFFFFFFu) return Status::no_memory;
    Fragments f;
    f.sender_ = this;
    f.message_ = message;
    f.count_ = count;
    f.header_.message_id = next_message_id_++;
    f.header_.fragment_count = static_cast<std::uint8_t>(count);
    f.header_.message_length = static_cast<std::uint32_t>(message.size());
    return f;
  }

  // Calls emit(const LinkHeader&, std::span<const std::byte> fragment) -> Status for every
  // fragment in order; stops at the first error and returns it. no_memory: the message needs
  // more than kMaxFragments frames (too large for this link); bad_message: max_fragment invalid.
  template <class Emit>
  Status send(std::span<const std::byte> message, Emit&& emit) {
    Result<Fragments> f = fragments(message);
    if (!f.ok()) return f.status();
    LinkHeader h;
    std::span<const std::byte> payload;
    while (f.value().next(h, payload)) {
      if (const Status s = emit(static_cast<const LinkHeader&>(h), payload); s != Status::ok) return s;
    }
    return Status::ok;
  }

  std::size_t max_fragment() const { return max_fragment_; }
  std::size_t max_message() const { return kMaxFragments * max_fragment_; }

 private:
  std::size_t max_fragment_;
  std::uint16_t next_sequence_ = 0;
  std::uint16_t next_message_id_ = 0;
};

struct ReassemblyCounters {
  std::uint32_t messages = 0;        // delivered (single- and multi-fragment)
  std::uint32_t duplicates = 0;      // fragment already received, or of a message just delivered
  std::uint32_t timeouts = 0;        // partial messages dropped at the reassembly timeout
  std::uint32_t too_large = 0;       // message longer than max_message: dropped
  std::uint32_t no_slot = 0;         // every slot busy: the new message's fragment dropped
  std::uint32_t inconsistent = 0;    // fragments of one message disagree: the message dropped
};

// A complete message. `bytes` points into the reassembly buffer (slot >= 0: valid until
// release()) or, for a message that fit in one frame, into that frame (slot < 0: valid as long
// as the frame; release() is a no-op).
struct ReassembledMessage {
  std::uint32_t peer = 0;
  std::uint16_t message_id = 0;
  std::span<const std::byte> bytes;
  int slot = -1;
};

class Reassembler {
 public:
  struct Slot {
    enum class State : std::uint8_t { free, partial, held };
    State state = State::free;
    std::uint8_t fragment_count = 0;
    std::uint8_t received = 0;
    std::uint16_t message_id = 0;
    std::uint32_t peer = 0;
    std::uint32_t message_length = 0;
    std::uint32_t fragment_size = 0;  // F; 0 until known
    std::uint64_t started_us = 0;     // first fragment: the timeout runs from here
    std::uint32_t seen[(kMaxFragments + 31) / 32] = {};
  };

  // `storage` holds slots.size() messages of max_message bytes each. Times are the caller's
  // clock (microseconds), passed in so the behaviour is deterministic.
  Reassembler(std::span<Slot> slots, std::span<std::byte> storage, std::size_t max_message, std::uint64_t timeout_us)
      : slots_(slots), storage_(storage), max_message_(max_message), timeout_us_(timeout_us) {}
  Reassembler(const Reassembler&) = delete;
  Reassembler& operator=(const Reassembler&) = delete;

  // One validated frame from `peer` (the caller's name for the sender: 0 on a point-to-point
  // serial link, the index of the source address on UDP). Returns the message this frame
  // completed, if any.
  std::optional<ReassembledMessage> accept(std::uint32_t peer, const LinkFrame& frame, std::uint64_t now_us);
  // Gives a delivered message's slot back.
  void release(const ReassembledMessage& message);
  // Drops partial messages whose first fragment is timeout_us old; returns how many. accept()
  // calls it; a node calls it from a timer too, so memory is reclaimed on a quiet link. Held
  // (delivered, not released) slots are the owner's and never expire.
  std::size_t expire(std::uint64_t now_us);

  const ReassemblyCounters& counters() const { return counters_; }
  std::size_t in_progress() const;
  std::size_t max_message() const { return max_message_; }

 private:
  // The last few multi-fragment messages delivered: a late duplicate of one of their fragments
  // is dropped instead of opening a partial message that could only time out (on UDP,
  // duplicated datagrams would otherwise fill the slots with such leftovers).
  struct Recent {
    std::uint32_t peer = 0;
    std::uint32_t message_length = 0;
    std::uint16_t message_id = 0;
    std::uint8_t fragment_count = 0;  // 0: unused entry
  };
  static constexpr std::size_t kRecent = 8;

  bool recently_delivered(std::uint32_t peer, const LinkHeader& h) const;
  Slot* find(std::uint32_t peer, std::uint16_t message_id);
  Slot* allocate();
  bool learn_fragment_size(Slot& s, const LinkHeader& h);
  void drop(Slot& s) { s.state = Slot::State::free; }
  std::byte* buffer(const Slot& s) {
    return storage_.data() + static_cast<std::size_t>(&s - slots_.data()) * max_message_;
  }

  std::span<Slot> slots_;
  std::span<std::byte> storage_;
  std::size_t max_message_;
  std::uint64_t timeout_us_;
  ReassemblyCounters counters_;
  Recent recent_[kRecent];
  std::size_t next_recent_ = 0;
};

// A Reassembler with its own memory: Slots messages of up to MaxMessage bytes in progress.
template <std::size_t MaxMessage, std::size_t Slots>
struct ReassemblyStorage {
  std::array<Reassembler::Slot, Slots> slots{};
  std::array<std::byte, MaxMessage * Slots> bytes{};
};

template <std::size_t MaxMessage, std::size_t Slots>
class StaticReassembler : private ReassemblyStorage<MaxMessage, Slots>, public Reassembler {
  using Storage = ReassemblyStorage<MaxMessage, Slots>;

 public:
  explicit StaticReassembler(std::uint64_t timeout_us)
      : Storage{}, Reassembler(Storage::slots, Storage::bytes, MaxMessage, timeout_us) {}
};

}  // namespace ambience::net
