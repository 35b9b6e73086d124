// Duplicate suppression on the server side of cross-node RPC: a non-idempotent procedure is
// never executed twice for one call, however often its request arrives (link duplicates,
// a forwarder re-sending, a confused client).
//
// admit() before executing a request, complete() after. Keyed by (source node, call id); call
// ids are (caller incarnation << 32 | counter), increasing per caller life. Bounded in entries
// and in age; what makes eviction safe is a per-source *floor*: evicting a call raises its
// source's floor to that call's counter, and a request at or below the floor that is not in the
// cache is refused as `forgotten` instead of executed. (The price: a request overtaken by a
// newer call of the same caller that was already evicted is refused too — safe, and rare.)
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "kernel/core/status.hpp"

namespace ambience::net {

struct ReplyCacheCounters {
  std::uint32_t executed = 0;     // admitted for execution
  std::uint32_t in_progress = 0;  // duplicate while executing: dropped (the reply will follow)
  std::uint32_t replayed = 0;     // duplicate of a completed call: its reply sent again
  std::uint32_t forgotten = 0;    // duplicate or stale call whose reply is gone: refused
  std::uint32_t busy = 0;         // no entry free (all executing) or no floor: refused
  std::uint32_t evicted = 0;      // completed entries dropped for room
  std::uint32_t expired = 0;      // completed entries dropped at max age
};

class ReplyCache {
 public:
  struct Entry {
    enum class State : std::uint8_t { free, executing, done };
    State state = State::free;
    bool replayable = false;  // the reply fitted in max_reply bytes and is stored
    Status status = Status::ok;
    std::uint16_t source_node = 0;
    std::uint32_t reply_size = 0;
    std::uint64_t call_id = 0;
    std::uint64_t stamp_us = 0;  // done: completion time (the age counts from there)
  };
  // One per node that calls this node (the plan knows how many).
  struct SourceFloor {
    bool used = false;
    std::uint16_t source_node = 0;
    std::uint32_t incarnation = 0;
    std::uint32_t floor = 0;  // counters <= floor of this incarnation are forgotten
  };

  enum class Verdict : std::uint8_t {
    execute,      // new call: execute it, then complete(entry, ...)
    in_progress,  // already executing: send nothing now
    replay,       // send `status` / `reply` again, do not execute
    forgotten,    // do not execute and send nothing: the caller has the reply already or its call
                  // times out (`status` = timeout, what it sees). An error reply here could
                  // overtake the real reply of the first copy, still on its way.
    busy,         // do not execute; answer with `status` (would_block: back-pressure)
  };
  struct Admission {
    Verdict verdict = Verdict::busy;
    int entry = -1;  // execute only: what complete() takes
    Status status = Status::ok;
    std::span<const std::byte> reply;  // replay: the stored reply (valid until the next admit)
  };

  // `replies` holds entries.size() replies of max_reply bytes. max_age_us must cover the longest
  // time a caller may still re-send a call (its timeout), so a retry finds the stored reply.
  ReplyCache(std::span<Entry> entries, std::span<std::byte> replies, std::size_t max_reply,
             std::span<SourceFloor> floors, std::uint64_t max_age_us)
      : entries_(entries), replies_(replies), max_reply_(max_reply), floors_(floors), max_age_us_(max_age_us) {}
  ReplyCache(const ReplyCache&) = delete;
  ReplyCache& operator=(const ReplyCache&) = delete;

  Admission admit(std::uint16_t source_node, std::uint64_t call_id, std::uint64_t now_us);
  // The call admitted as `entry` finished with `status` and `reply` (stored if it fits).
  void complete(int entry, Status status, std::span<const std::byte> reply, std::uint64_t now_us);
  // Drops completed entries max_age_us old; admit() calls it too.
  std::size_t expire(std::uint64_t now_us);

  const ReplyCacheCounters& counters() const { return counters_; }
  std::size_t executing() const;

 private:
  Entry* find(std::uint16_t source_node, std::uint64_t call_id);
  SourceFloor* floor_of(std::uint16_t source_node);
  void evict(Entry& e);
  std::byte* reply_buffer(const Entry& e) {
    return replies_.data() + static_cast<std::size_t>(&e - entries_.data()) * max_reply_;
  }

  std::span<Entry> entries_;
  std::span<std::byte> replies_;
  std::size_t max_reply_;
  std::span<SourceFloor> floors_;
  std::uint64_t max_age_us_;
  ReplyCacheCounters counters_;
};

template <std::size_t Entries, std::size_t MaxReply, std::size_t Sources>
struct ReplyCacheStorage {
  std::array<ReplyCache::Entry, Entries> entries{};
  std::array<std::byte, Entries * MaxReply> replies{};
  std::array<ReplyCache::SourceFloor, Sources> floors{};
};

// A ReplyCache with its own memory: Entries calls, replies up to MaxReply bytes, Sources callers.
template <std::size_t Entries, std::size_t MaxReply, std::size_t Sources>
class StaticReplyCache : private ReplyCacheStorage<Entries, MaxReply, Sources>, public ReplyCache {
  using Storage = ReplyCacheStorage<Entries, MaxReply, Sources>;

 public:
  explicit StaticReplyCache(std::uint64_t max_age_us)
      : Storage{}, ReplyCache(Storage::entries, Storage::replies, MaxReply, Storage::floors, max_age_us) {}
};

}  // namespace ambience::net
