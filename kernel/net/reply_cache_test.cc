// The reply cache: one execution per call, replays of stored replies, duplicates while
// executing, bounds in entries and age (with the per-source floor keeping evicted calls from
// running again), back-pressure, caller restarts, and a randomized duplicate storm.
#include "kernel/net/reply_cache.hpp"

#include "kernel/net/test_util.hpp"
#include "kernel/testing/test.hpp"

namespace {

using namespace ambience::net;
using ambience::Status;
using ambience::net::testing::as_bytes;
using ambience::net::testing::equal;
using ambience::net::testing::Rng;
using Verdict = ReplyCache::Verdict;

constexpr std::uint64_t kAge = 10'000;
constexpr std::uint64_t id(std::uint32_t incarnation, std::uint32_t n) { return std::uint64_t{incarnation} << 32 | n; }

AMBIENCE_TEST(one_execution_then_replays) {
  StaticReplyCache<4, 32, 2> cache(kAge);
  ReplyCache::Admission a = cache.admit(5, id(1, 1), 0);
  CHECK(a.verdict == Verdict::execute && a.entry >= 0);
  CHECK(cache.admit(5, id(1, 1), 1).verdict == Verdict::in_progress);
  CHECK_EQ(cache.executing(), 1u);
  cache.complete(a.entry, Status::ok, as_bytes("result"), 2);
  ReplyCache::Admission b = cache.admit(5, id(1, 1), 3);
  CHECK(b.verdict == Verdict::replay && b.status == Status::ok && equal(b.reply, as_bytes("result")));
  // The same call id from another node is another call.
  CHECK(cache.admit(6, id(1, 1), 3).verdict == Verdict::execute);
  // An error outcome is replayed as that error.
  ReplyCache::Admission c = cache.admit(5, id(1, 2), 4);
  cache.complete(c.entry, Status::access_denied, {}, 4);
  ReplyCache::Admission d = cache.admit(5, id(1, 2), 5);
  CHECK(d.verdict == Verdict::replay && d.status == Status::access_denied && d.reply.empty());
  CHECK_EQ(cache.counters().executed, 3u);
  CHECK_EQ(cache.counters().replayed, 2u);
  CHECK_EQ(cache.counters().in_progress, 1u);
}

AMBIENCE_TEST(a_reply_too_large_to_store_is_never_re_executed) {
  StaticReplyCache<2, 4, 1> cache(kAge);
  ReplyCache::Admission a = cache.admit(1, id(1, 1), 0);
  cache.complete(a.entry, Status::ok, as_bytes("longer than four"), 0);
  ReplyCache::Admission b = cache.admit(1, id(1, 1), 1);
  CHECK(b.verdict == Verdict::forgotten && b.status == Status::timeout);
  CHECK_EQ(cache.counters().executed, 1u);
}

AMBIENCE_TEST(eviction_raises_the_floor) {
  StaticReplyCache<3, 8, 2> cache(kAge);
  for (std::uint32_t n = 1; n <= 3; ++n) {
    ReplyCache::Admission a = cache.admit(1, id(9, n), n);
    cache.complete(a.entry, Status::ok, as_bytes("r"), n);
  }
  ReplyCache::Admission a = cache.admit(1, id(9, 4), 10);  // full: the oldest (call 1) goes
  CHECK(a.verdict == Verdict::execute);
  CHECK_EQ(cache.counters().evicted, 1u);
  CHECK(cache.admit(1, id(9, 1), 11).verdict == Verdict::forgotten);  // not executed again
  CHECK(cache.admit(1, id(9, 2), 11).verdict == Verdict::replay);     // still cached
  cache.complete(a.entry, Status::ok, as_bytes("r"), 12);
  // Call 3 evicted next raises the floor to 3: a late first arrival of an older call is refused.
  ReplyCache::Admission b = cache.admit(1, id(9, 5), 13);  // evicts call 2 (oldest done)
  CHECK(b.verdict == Verdict::execute);
  ReplyCache::Admission c = cache.admit(1, id(9, 6), 14);  // evicts call 3
  CHECK(c.verdict == Verdict::execute);
  CHECK(cache.admit(1, id(9, 3), 15).verdict == Verdict::forgotten);
  CHECK_EQ(cache.counters().executed, 6u);
  // Another source has its own floor; its call takes the last completed entry (call 4).
  CHECK(cache.admit(2, id(4, 1), 15).verdict == Verdict::execute);
  CHECK(cache.admit(2, id(4, 2), 15).verdict == Verdict::busy);  // now all three are executing
  CHECK(cache.admit(1, id(9, 4), 16).verdict == Verdict::forgotten);
}

AMBIENCE_TEST(all_entries_executing_means_busy) {
  StaticReplyCache<2, 8, 2> cache(kAge);
  ReplyCache::Admission a = cache.admit(1, id(1, 1), 0);
  CHECK(cache.admit(1, id(1, 2), 0).verdict == Verdict::execute);
  ReplyCache::Admission busy = cache.admit(1, id(1, 3), 0);
  CHECK(busy.verdict == Verdict::busy && busy.status == Status::would_block);
  cache.complete(a.entry, Status::ok, {}, 1);
  CHECK(cache.admit(1, id(1, 3), 2).verdict == Verdict::execute);  // a re-send after the back-off
  CHECK_EQ(cache.executing(), 2u);
  CHECK_EQ(cache.expire(~std::uint64_t{0} >> 1), 0u);  // executing entries never expire
}

AMBIENCE_TEST(entries_expire_at_max_age) {
  StaticReplyCache<4, 8, 2> cache(kAge);
  ReplyCache::Admission a = cache.admit(1, id(1, 1), 100);
  cache.complete(a.entry, Status::ok, as_bytes("x"), 200);
  CHECK(cache.admit(1, id(1, 1), 200 + kAge - 1).verdict == Verdict::replay);
  CHECK(cache.admit(1, id(1, 1), 200 + kAge).verdict == Verdict::forgotten);
  CHECK_EQ(cache.counters().expired, 1u);
  CHECK(cache.admit(1, id(1, 2), 200 + kAge).verdict == Verdict::execute);
}

AMBIENCE_TEST(a_restarted_caller_starts_over_and_sources_are_bounded) {
  StaticReplyCache<2, 8, 2> cache(kAge);
  for (std::uint32_t n = 1; n <= 3; ++n) {
    ReplyCache::Admission a = cache.admit(1, id(7, n), n);
    cache.complete(a.entry, Status::ok, {}, n);
  }
  CHECK(cache.admit(1, id(7, 1), 5).verdict == Verdict::forgotten);
  // New incarnation: counters restart at 1, and those are new calls.
  CHECK(cache.admit(1, id(8, 1), 6).verdict == Verdict::execute);
  CHECK(cache.admit(1, id(8, 2), 6).verdict == Verdict::execute);  // both entries now executing
  CHECK(cache.admit(1, id(8, 1), 7).verdict == Verdict::in_progress);
  StaticReplyCache<4, 8, 2> wide(kAge);
  CHECK(wide.admit(1, id(1, 1), 0).verdict == Verdict::execute);
  CHECK(wide.admit(2, id(1, 1), 0).verdict == Verdict::execute);
  ReplyCache::Admission third = wide.admit(3, id(1, 1), 0);  // a third source: no floor left
  CHECK(third.verdict == Verdict::busy && third.status == Status::would_block);
}

// Many callers, each call's request duplicated and delayed at random, a small cache: no call
// is ever executed twice, and with room enough every call is executed once.
struct Pending {
  std::uint16_t source;
  std::uint64_t call_id;
  std::uint64_t at;
};

int storm(ReplyCache& cache, int calls, int& executed_calls) {
  static Pending pending[64];
  static std::uint8_t executions[4][512];
  for (auto& row : executions) {
    for (auto& x : row) x = 0;
  }
  Rng rng(77);
  std::size_t n = 0;
  std::uint64_t now = 0;
  std::uint32_t next[4] = {1, 1, 1, 1};
  int twice = 0;
  int started = 0;
  while (started < calls || n > 0) {
    now += 1 + rng.below(20);
    if (started < calls && n + 3 <= 64) {
      const auto source = static_cast<std::uint16_t>(rng.below(4));
      const std::uint64_t call = id(40 + source, next[source]++);
      const int copies = 1 + static_cast<int>(rng.below(3));
      for (int k = 0; k < copies; ++k) pending[n++] = Pending{source, call, now + rng.below(300)};
      ++started;
    }
    for (std::size_t i = 0; i < n;) {
      if (pending[i].at > now) {
        ++i;
        continue;
      }
      ReplyCache::Admission a = cache.admit(pending[i].source, pending[i].call_id, now);
      if (a.verdict == Verdict::execute) {
        std::uint8_t& count = executions[pending[i].source][pending[i].call_id & 511];
        if (++count > 1) ++twice;
        cache.complete(a.entry, Status::ok, {}, now);
      }
      pending[i] = pending[--n];
    }
  }
  executed_calls = 0;
  for (auto& row : executions) {
    for (auto x : row) executed_calls += x != 0;
  }
  return twice;
}

AMBIENCE_TEST(duplicate_storm_never_executes_a_call_twice) {
  int executed = 0;
  static StaticReplyCache<64, 8, 4> roomy(1'000'000);
  CHECK_EQ(storm(roomy, 400, executed), 0);
  CHECK_EQ(executed, 400);
  CHECK(roomy.counters().replayed > 100);
  static StaticReplyCache<4, 8, 4> tight(200);
  CHECK_EQ(storm(tight, 400, executed), 0);
  CHECK(executed > 200);  // some refused (forgotten or busy), none twice
  CHECK(tight.counters().forgotten + tight.counters().evicted + tight.counters().expired > 0);
}

}  // namespace
