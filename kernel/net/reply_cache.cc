#include "kernel/net/reply_cache.hpp"

namespace ambience::net {

namespace {
std::uint32_t incarnation_of(std::uint64_t call_id) { return static_cast<std::uint32_t>(call_id >> 32); }
std::uint32_t counter_of(std::uint64_t call_id) { return static_cast<std::uint32_t>(call_id); }
}  // namespace

ReplyCache::Admission ReplyCache::admit(std::uint16_t source_node, std::uint64_t call_id, std::uint64_t now_us) {
  expire(now_us);
  if (Entry* e = find(source_node, call_id)) {
    if (e->state == Entry::State::executing) {
      ++counters_.in_progress;
      return {Verdict::in_progress, -1, Status::ok, {}};
    }
    if (e->replayable) {
      ++counters_.replayed;
      return {Verdict::replay, -1, e->status, std::span<const std::byte>(reply_buffer(*e), e->reply_size)};
    }
    ++counters_.forgotten;
    return {Verdict::forgotten, -1, Status::timeout, {}};
  }
  SourceFloor* f = floor_of(source_node);
  if (f == nullptr) {
    for (SourceFloor& candidate : floors_) {
      if (!candidate.used) {
        candidate = SourceFloor{true, source_node, incarnation_of(call_id), 0};
        f = &candidate;
        break;
      }
    }
    if (f == nullptr) {  // without a floor an eviction could let a duplicate run again
      ++counters_.busy;
      return {Verdict::busy, -1, Status::would_block, {}};
    }
  }
  if (f->incarnation != incarnation_of(call_id)) {
    // The caller restarted: its counters start again. Its old life's calls can no longer be
    // retried by it, so their floor is of no use.
    f->incarnation = incarnation_of(call_id);
    f->floor = 0;
  } else if (counter_of(call_id) <= f->floor) {
    ++counters_.forgotten;
    return {Verdict::forgotten, -1, Status::timeout, {}};
  }
  Entry* slot = nullptr;
  Entry* oldest_done = nullptr;
  for (Entry& e : entries_) {
    if (e.state == Entry::State::free) {
      slot = &e;
      break;
    }
    if (e.state == Entry::State::done && (oldest_done == nullptr || e.stamp_us < oldest_done->stamp_us))
      oldest_done = &e;
  }
  if (slot == nullptr && oldest_done != nullptr) {
    evict(*oldest_done);
    ++counters_.evicted;
    slot = oldest_done;
  }
  if (slot == nullptr || replies_.size() < entries_.size() * max_reply_) {
    ++counters_.busy;
    return {Verdict::busy, -1, Status::would_block, {}};
  }
  *slot = Entry{};
  slot->state = Entry::State::executing;
  slot->source_node = source_node;
  slot->call_id = call_id;
  slot->stamp_us = now_us;
  ++counters_.executed;
  return {Verdict::execute, static_cast<int>(slot - entries_.data()), Status::ok, {}};
}

void ReplyCache::complete(int entry, Status status, std::span<const std::byte> reply, std::uint64_t now_us) {
  if (entry < 0 || static_cast<std::size_t>(entry) >= entries_.size()) return;
  Entry& e = entries_[static_cast<std::size_t>(entry)];
  if (e.state != Entry::State::executing) return;
  e.state = Entry::State::done;
  e.status = status;
  e.stamp_us = now_us;
  e.replayable = reply.size() <= max_reply_;
  e.reply_size = e.replayable ? static_cast<std::uint32_t>(reply.size()) : 0;
  if (e.replayable) {
    std::byte* out = reply_buffer(e);
    for (std::size_t i = 0; i < reply.size(); ++i) out[i] = reply[i];
  }
}

std::size_t ReplyCache::expire(std::uint64_t now_us) {
  std::size_t n = 0;
  for (Entry& e : entries_) {
    if (e.state == Entry::State::done && now_us >= e.stamp_us && now_us - e.stamp_us >= max_age_us_) {
      evict(e);
      ++n;
    }
  }
  counters_.expired += static_cast<std::uint32_t>(n);
  return n;
}

std::size_t ReplyCache::executing() const {
  std::size_t n = 0;
  for (const Entry& e : entries_) n += e.state == Entry::State::executing;
  return n;
}

void ReplyCache::evict(Entry& e) {
  SourceFloor* f = floor_of(e.source_node);
  if (f != nullptr && f->incarnation == incarnation_of(e.call_id) && counter_of(e.call_id) > f->floor)
    f->floor = counter_of(e.call_id);
  e.state = Entry::State::free;
}

ReplyCache::Entry* ReplyCache::find(std::uint16_t source_node, std::uint64_t call_id) {
  for (Entry& e : entries_) {
    if (e.state != Entry::State::free && e.call_id == call_id && e.source_node == source_node) return &e;
  }
  return nullptr;
}

ReplyCache::SourceFloor* ReplyCache::floor_of(std::uint16_t source_node) {
  for (SourceFloor& f : floors_) {
    if (f.used && f.source_node == source_node) return &f;
  }
  return nullptr;
}

}  // namespace ambience::net
