// The call table: unique call ids carrying the incarnation, back-pressure when full, deadlines,
// the back-off schedule of idempotent re-sends (and none for other calls), replies from the
// wrong node or too late, failed and restarted destinations, busy servers, cancellation.
#include "kernel/net/call_table.hpp"

#include "kernel/testing/test.hpp"

namespace {

using namespace ambience::net;
using ambience::Result;
using ambience::Status;

constexpr CallPolicy kPolicy{10'000, 1'000, 3'000, 4};

struct Log {
  int finished = 0;
  int resent = 0;
  Status last = Status::ok;
  std::uint64_t last_id = 0;
};

struct OnFinished {
  Log* log;
  void operator()(const CallTable::Finished& f) const {
    ++log->finished;
    log->last = f.status;
    log->last_id = f.call_id;
  }
};
struct OnResend {
  Log* log;
  void operator()(int, std::uint64_t call_id, void*) const {
    ++log->resent;
    log->last_id = call_id;
  }
};

AMBIENCE_TEST(call_ids_are_unique_and_carry_the_incarnation) {
  StaticCallTable<4> t(0xABCD);
  std::uint64_t ids[4];
  for (int i = 0; i < 4; ++i) {
    Result<CallTable::Started> s = t.start(2, false, kPolicy, 0);
    CHECK(s.ok());
    ids[i] = s->call_id;
    CHECK_EQ(ids[i] >> 32, 0xABCDu);
    CHECK((ids[i] & 0xFFFFFFFFu) != 0);
  }
  CHECK(ids[0] != ids[1] && ids[1] != ids[2] && ids[2] != ids[3]);
  CHECK(t.start(2, false, kPolicy, 0).status() == Status::would_block);  // full: back-pressure
  CHECK_EQ(t.counters().refused, 1u);
  CHECK(t.on_reply(ids[1], 2, Status::ok, 5).has_value());
  Result<CallTable::Started> again = t.start(2, false, kPolicy, 6);
  CHECK(again.ok() && again->call_id != ids[1]);
}

AMBIENCE_TEST(a_non_idempotent_call_is_sent_once_and_times_out_at_its_deadline) {
  StaticCallTable<2> t(1);
  Log log;
  Result<CallTable::Started> s = t.start(3, false, kPolicy, 100);
  CHECK_EQ(t.next_wakeup_us(), 100 + kPolicy.timeout_us);
  for (std::uint64_t now = 100; now < 100 + kPolicy.timeout_us; now += 250)
    t.poll(now, OnFinished{&log}, OnResend{&log});
  CHECK_EQ(log.resent, 0);
  CHECK_EQ(log.finished, 0);
  t.poll(100 + kPolicy.timeout_us, OnFinished{&log}, OnResend{&log});
  CHECK(log.finished == 1 && log.last == Status::timeout && log.last_id == s->call_id);
  CHECK_EQ(t.in_flight(), 0u);
  CHECK(!t.on_reply(s->call_id, 3, Status::ok, 100 + kPolicy.timeout_us + 1).has_value());  // too late
  CHECK_EQ(t.counters().unmatched, 1u);
  CHECK_EQ(t.next_wakeup_us(), ~std::uint64_t{0});
}

AMBIENCE_TEST(idempotent_calls_back_off_exponentially_and_stop) {
  StaticCallTable<2> t(1);
  Log log;
  CHECK(t.start(3, true, kPolicy, 0).ok());
  std::uint64_t sent_at[8];
  int sends = 0;
  for (std::uint64_t now = 0; now <= kPolicy.timeout_us; now += 50) {
    const int before = log.resent;
    t.poll(now, OnFinished{&log}, OnResend{&log});
    if (log.resent != before && sends < 8) sent_at[sends++] = now;
  }
  // Attempt 1 at 0, re-sends after 1000, 2000 and 3000 (capped) more: at 1000, 3000, 6000.
  CHECK_EQ(sends, 3);  // max_attempts 4 in all
  CHECK(sent_at[0] == 1000 && sent_at[1] == 3000 && sent_at[2] == 6000);
  CHECK(log.finished == 1 && log.last == Status::timeout);
}

// A call started re-sendable (its request a probe) and told to send no more (its body went out):
// no re-send after that, by poll() or a restarted destination; it still ends at its deadline.
AMBIENCE_TEST(a_call_sends_no_more_once_told) {
  StaticCallTable<2> t(1);
  Log log;
  Result<CallTable::Started> s = t.start(3, true, kPolicy, 0);
  CHECK(s.ok());
  t.poll(1000, OnFinished{&log}, OnResend{&log});
  CHECK_EQ(log.resent, 1);
  t.send_no_more(s->slot);
  CHECK_EQ(t.next_wakeup_us(), kPolicy.timeout_us);
  for (std::uint64_t now = 1000; now < kPolicy.timeout_us; now += 50) t.poll(now, OnFinished{&log}, OnResend{&log});
  t.destination_failed(3, Status::peer_restarted, 5000, OnFinished{&log}, OnResend{&log});
  CHECK_EQ(log.resent, 1);
  CHECK(log.finished == 1 && log.last == Status::peer_restarted);
  t.send_no_more(-1);  // out of range: ignored
  t.send_no_more(7);
}

AMBIENCE_TEST(replies_must_come_from_the_destination) {
  StaticCallTable<2> t(1);
  Result<CallTable::Started> s = t.start(3, false, kPolicy, 0);
  CHECK(!t.on_reply(s->call_id, 4, Status::ok, 1).has_value());
  CHECK(!t.on_reply(s->call_id + 1, 3, Status::ok, 1).has_value());
  std::optional<CallTable::Finished> f = t.on_reply(s->call_id, 3, Status::not_found, 2);
  CHECK(f.has_value() && f->status == Status::not_found && f->slot == s->slot);
  CHECK(!t.on_reply(s->call_id, 3, Status::ok, 3).has_value());  // duplicate reply
  CHECK_EQ(t.counters().unmatched, 3u);
}

AMBIENCE_TEST(failed_and_restarted_destinations) {
  StaticCallTable<4> t(1);
  Log log;
  CHECK(t.start(3, false, kPolicy, 0).ok());
  CHECK(t.start(3, true, kPolicy, 0).ok());
  CHECK(t.start(5, false, kPolicy, 0).ok());
  t.destination_failed(3, Status::peer_restarted, 10, OnFinished{&log}, OnResend{&log});
  CHECK(log.finished == 1 && log.last == Status::peer_restarted);  // the non-idempotent one
  CHECK_EQ(log.resent, 1);                                         // the idempotent one, at once
  t.destination_failed(3, Status::unavailable, 20, OnFinished{&log}, OnResend{&log});
  CHECK(log.finished == 2 && log.last == Status::unavailable);  // no route: nothing to re-send to
  CHECK_EQ(t.in_flight(), 1u);                                  // the call to node 5 goes on
}

AMBIENCE_TEST(busy_servers_and_cancellation) {
  StaticCallTable<4> t(1);
  Log log;
  Result<CallTable::Started> idem = t.start(3, true, kPolicy, 0);
  Result<CallTable::Started> once = t.start(3, false, kPolicy, 0);
  CHECK(!t.on_reply(idem->call_id, 3, Status::would_block, 100).has_value());  // waits, re-sends later
  CHECK_EQ(t.counters().busy_retries, 1u);
  t.poll(100 + kPolicy.first_retry_us - 1, OnFinished{&log}, OnResend{&log});
  CHECK_EQ(log.resent, 0);
  t.poll(100 + kPolicy.first_retry_us, OnFinished{&log}, OnResend{&log});
  CHECK_EQ(log.resent, 1);
  std::optional<CallTable::Finished> f = t.on_reply(once->call_id, 3, Status::would_block, 200);
  CHECK(f.has_value() && f->status == Status::would_block);
  t.cancel(idem->slot);
  CHECK_EQ(t.in_flight(), 0u);
  CHECK(!t.on_reply(idem->call_id, 3, Status::ok, 300).has_value());
}

AMBIENCE_TEST(default_policies_per_network_kind) {
  constexpr CallPolicy udp = default_policy(NetworkKind::udp);
  constexpr CallPolicy serial = default_policy(NetworkKind::serial);
  static_assert(udp.timeout_us > 0 && serial.timeout_us > udp.timeout_us);
  CHECK(udp.first_retry_us < udp.timeout_us && serial.first_retry_us < serial.timeout_us);
  CHECK(udp.max_attempts >= 2 && serial.max_attempts >= 2);
}

}  // namespace
