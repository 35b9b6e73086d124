#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "kernel/core/job.hpp"
#include "kernel/core/task.hpp"
#include "kernel/testing/test.hpp"
#include "services/database/sighting_log.hpp"
#include "services/database/tests/memory_storage.hpp"
#include "services/storage/file_storage.hpp"

namespace {

using camera_trap::Species;
using camera_trap::database::Appended;
using camera_trap::database::Sighting;
using camera_trap::database::SqliteSightingLog;
using camera_trap::database::Stored;
using camera_trap::database::StoreError;
using camera_trap::database::testing::MemoryStorage;
using storage::Outcome;

// Runs a task to completion on this process's loop (the test is the loop's only driver).
template <class T>
ambience::Task<void> finish(ambience::Task<T> task, ambience::Job<T>& job) {
  job.complete(co_await task);
}
ambience::Task<void> finish_void(ambience::Task<void> task, ambience::Job<void>& job) {
  co_await task;
  job.complete();
}
template <class T>
T run(ambience::Task<T> task) {
  ambience::Job<T> job;
  if (ambience::spawn(finish(std::move(task), job)) != ambience::Status::ok) std::abort();
  return ambience::sync_wait(job);
}
void run(ambience::Task<void> task) {
  ambience::Job<void> job;
  if (ambience::spawn(finish_void(std::move(task), job)) != ambience::Status::ok) std::abort();
  ambience::sync_wait(job);
}

Sighting sighting_for(std::uint64_t event) {
  Sighting s;
  s.event_id = event;
  s.species = static_cast<Species>(event % 4);
  s.confidence = static_cast<float>(event % 1000) / 1000.0f;
  s.taken_at_ms = event * 10 + 7;
  return s;
}

bool same(const Sighting& a, const Sighting& b) {
  return a.event_id == b.event_id && a.species == b.species && a.confidence == b.confidence &&
         a.taken_at_ms == b.taken_at_ms;
}

std::uint64_t id_of(const Appended& a) {
  const std::uint64_t* id = a.as_id();
  return id == nullptr ? 0 : *id;
}

std::vector<Stored> everything(SqliteSightingLog& log) {
  std::vector<Stored> all;
  for (;;) {
    const std::uint64_t first = all.empty() ? 1 : all.back().id + 1;
    std::vector<Stored> part = run(log.range(first, SqliteSightingLog::kMaxQuery));
    if (part.empty()) return all;
    all.insert(all.end(), part.begin(), part.end());
  }
}

std::string temp_dir() {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/db.XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) std::abort();
  return buf.data();
}

// The same checks on any storage: appends, idempotent re-appends, the three queries, reopening.
void exercise(ambience::testing::Context& ambience_test_context_, storage::Storage& storage) {
  {
    SqliteSightingLog log(storage);
    run(log.start());
    CHECK(log.is_open());
    for (std::uint64_t e = 1; e <= 40; ++e) CHECK_EQ(id_of(run(log.append(sighting_for(100 + e)))), e);
    // A retried append (same event) is stored once and answers the id it has.
    CHECK_EQ(id_of(run(log.append(sighting_for(105)))), 5u);
    CHECK_EQ(run(log.count()), 40u);
    // An event id above INT64_MAX and a confidence that is not a short decimal round-trip.
    Sighting big = sighting_for(7);
    big.event_id = 0xfedcba9876543210ull;
    big.confidence = 0.123456789f;
    big.taken_at_ms = ~0ull;
    CHECK_EQ(id_of(run(log.append(big))), 41u);
    const std::vector<Stored> r = run(log.range(3, 4));
    CHECK_EQ(r.size(), 4u);
    for (std::size_t i = 0; i < r.size(); ++i) {
      CHECK_EQ(r[i].id, 3 + i);
      CHECK(same(r[i].sighting, sighting_for(103 + i)));
    }
    const std::vector<Stored> cats = run(log.by_species(Species::cat, 10, 100));
    std::vector<std::uint64_t> want;
    for (std::uint64_t e = 10; e <= 40; ++e) {
      if ((100 + e) % 4 == static_cast<std::uint64_t>(Species::cat)) want.push_back(e);
    }
    CHECK_EQ(cats.size(), want.size());
    for (std::size_t i = 0; i < cats.size() && i < want.size(); ++i) {
      CHECK_EQ(cats[i].id, want[i]);
      CHECK(cats[i].sighting.species == Species::cat);
    }
    CHECK_EQ(run(log.by_species(Species::human, 1, 2)).size(), 2u);  // count limits the answer
    CHECK(run(log.range(42, 10)).empty());
    CHECK_EQ(run(log.integrity_check()), std::string("ok"));
    run(log.close());
  }
  SqliteSightingLog again(storage);
  run(again.start());
  CHECK(again.is_open());
  CHECK_EQ(run(again.count()), 41u);
  const std::vector<Stored> last = run(again.range(41, 1));
  CHECK(last.size() == 1 && last[0].sighting.event_id == 0xfedcba9876543210ull &&
        last[0].sighting.confidence == 0.123456789f && last[0].sighting.taken_at_ms == ~0ull);
  CHECK_EQ(id_of(run(again.append(sighting_for(140)))), 40u);
  CHECK_EQ(id_of(run(again.append(sighting_for(999)))), 42u);
  CHECK(again.bridge().stack_high_water() < again.bridge().stack_bytes() / 2);
  ambience::println("  fiber stack high water: ", again.bridge().stack_high_water(), " of ",
                    again.bridge().stack_bytes(), " bytes");
  run(again.close());
}

}  // namespace

AMBIENCE_TEST(log_on_storage_in_memory) {
  MemoryStorage storage(1);
  exercise(ambience_test_context_, storage);
  CHECK(storage.has("sightings.db"));
  CHECK(!storage.has("sightings.db-shm"));  // WAL without shared memory
}

AMBIENCE_TEST(log_on_real_files) {
  const std::string dir = temp_dir();
  storage::FileStorage storage(dir);
  exercise(ambience_test_context_, storage);
  CHECK_EQ(storage.open_files(), 0u);  // every file SQLite opened was closed
  CHECK(storage.exists_now("sightings.db") == Outcome::ok);
  CHECK(storage.exists_now("sightings.db-shm") == Outcome::not_found);
}

AMBIENCE_TEST(wal_mode_and_a_sync_per_acknowledged_append) {
  MemoryStorage storage(2);
  SqliteSightingLog log(storage);
  run(log.start());
  CHECK(storage.has("sightings.db-wal"));
  for (std::uint64_t e = 1; e <= 5; ++e) {
    const std::uint64_t syncs = log.vfs().stats().syncs;
    CHECK_EQ(id_of(run(log.append(sighting_for(e)))), e);
    CHECK(log.vfs().stats().syncs > syncs);
  }
  // A known event is answered from the log: nothing is written.
  const std::uint64_t writes = log.vfs().stats().writes;
  CHECK_EQ(id_of(run(log.append(sighting_for(3)))), 3u);
  CHECK_EQ(log.vfs().stats().writes, writes);
  run(log.close());
}

// Crash at a random mutating storage call (random seeds: which unsynced writes survive, which
// are torn), reopen: the database opens, passes integrity_check, holds every acknowledged append
// under its id, none twice, and nothing that was never appended.
AMBIENCE_TEST(crashes_with_torn_writes_lose_no_acknowledged_append) {
  std::uint64_t torn = 0, trials_with_acks = 0, checkpointed = 0;
  constexpr int kTrials = 60;
  for (int trial = 0; trial < kTrials; ++trial) {
    std::mt19937_64 rng(1000 + trial);
    MemoryStorage storage(trial);
    std::map<std::uint64_t, std::uint64_t> acked;  // event -> id
    std::uint64_t attempted = 0;
    {
      // Checkpoint every 8 pages, so crashes also land in checkpoints and WAL restarts.
      SqliteSightingLog log(storage, "sightings.db", 8);
      storage.crash_at(1 + rng() % 600);
      run(log.start());
      for (std::uint64_t e = 1; e <= 300 && !storage.crashed(); ++e) {
        attempted = e;
        const Appended a = run(log.append(sighting_for(e)));
        if (a.as_id() != nullptr) acked[e] = *a.as_id();
        // A retry of an acknowledged append now and then: still one row. (Unless the crash came
        // after the commit, in the checkpoint that followed it: the retry then finds no storage.)
        if (a.as_id() != nullptr && e % 7 == 0 && !storage.crashed())
          CHECK_EQ(id_of(run(log.append(sighting_for(e)))), *a.as_id());
      }
      if (!storage.crashed()) storage.crash_now();
      if (storage.size_of("sightings.db") > 4096) ++checkpointed;
    }
    storage.reboot();
    torn += storage.torn_writes();
    if (!acked.empty()) ++trials_with_acks;
    SqliteSightingLog log(storage, "sightings.db", 8);
    run(log.start());
    if (!CHECK(log.is_open())) {
      ambience::println("  trial ", trial, ": ", log.problem().c_str());
      continue;
    }
    CHECK_EQ(run(log.integrity_check()), std::string("ok"));
    const std::vector<Stored> all = everything(log);
    std::set<std::uint64_t> events;
    for (std::size_t i = 0; i < all.size(); ++i) {
      CHECK_EQ(all[i].id, i + 1);  // ids stay dense: nothing lost in the middle
      CHECK(events.insert(all[i].sighting.event_id).second);  // none twice
      CHECK(all[i].sighting.event_id >= 1 && all[i].sighting.event_id <= attempted);
      CHECK(same(all[i].sighting, sighting_for(all[i].sighting.event_id)));
    }
    for (const auto& [event, id] : acked) {
      if (!CHECK(id <= all.size() && all[id - 1].sighting.event_id == event)) {
        ambience::println("  trial ", trial, ": acknowledged event ", event, " (id ", id, ") is missing");
      }
    }
    CHECK_EQ(run(log.count()), all.size());
    // The log goes on: re-appends find their ids, a new event gets the next one.
    for (const auto& [event, id] : acked) CHECK_EQ(id_of(run(log.append(sighting_for(event)))), id);
    CHECK_EQ(id_of(run(log.append(sighting_for(100000)))), all.size() + 1);
    run(log.close());
  }
  ambience::println("  ", kTrials, " crashes, ", trials_with_acks, " after acknowledged appends, ", checkpointed,
                    " with a checkpointed database file, ", torn, " torn writes");
  CHECK(torn > 10);  // the crashes did tear writes
  CHECK(trials_with_acks > kTrials / 2);
  CHECK(checkpointed > 0);
}

// Disk full: the append is refused with storage_full, nothing is acknowledged; once there is
// room again the log goes on, the refused event stored once when retried.
AMBIENCE_TEST(a_full_disk_refuses_appends_clearly_and_recovers) {
  MemoryStorage storage(3);
  SqliteSightingLog log(storage);
  run(log.start());
  for (std::uint64_t e = 1; e <= 10; ++e) CHECK_EQ(id_of(run(log.append(sighting_for(e)))), e);
  storage.fail_writes_with(Outcome::no_space);
  const Appended full = run(log.append(sighting_for(11)));
  CHECK(full.as_error() != nullptr && *full.as_error() == StoreError::storage_full);
  CHECK(!log.problem().empty());
  storage.fail_writes_with(Outcome::ok);
  CHECK_EQ(id_of(run(log.append(sighting_for(11)))), 11u);
  CHECK_EQ(id_of(run(log.append(sighting_for(11)))), 11u);
  CHECK_EQ(run(log.count()), 11u);
  CHECK_EQ(run(log.integrity_check()), std::string("ok"));
  run(log.close());
}

// A failing fsync: storage_failed, and the append is not acknowledged; after the fault the log
// reopens and the retried event is there once.
AMBIENCE_TEST(a_failing_sync_is_never_acknowledged) {
  MemoryStorage storage(4);
  SqliteSightingLog log(storage);
  run(log.start());
  for (std::uint64_t e = 1; e <= 3; ++e) CHECK_EQ(id_of(run(log.append(sighting_for(e)))), e);
  storage.fail_syncs_with(Outcome::io_error);
  const Appended failed = run(log.append(sighting_for(4)));
  CHECK(failed.as_error() != nullptr && *failed.as_error() == StoreError::storage_failed);
  CHECK(!log.is_open());  // dropped: its caches may be ahead of the files
  const Appended still = run(log.append(sighting_for(5)));
  CHECK(still.as_error() != nullptr);
  storage.fail_syncs_with(Outcome::ok);
  CHECK_EQ(id_of(run(log.append(sighting_for(4)))), 4u);
  CHECK_EQ(id_of(run(log.append(sighting_for(5)))), 5u);
  CHECK_EQ(run(log.count()), 5u);
  run(log.close());
}

// A storage that never answers (the default result: no_answer) stores nothing and says so.
AMBIENCE_TEST(no_storage_directory_means_storage_failed) {
  storage::FileStorage none{std::string()};
  SqliteSightingLog log(none);
  run(log.start());
  CHECK(!log.is_open());
  CHECK(log.problem().find("no storage on this node") != std::string::npos);
  const Appended a = run(log.append(sighting_for(1)));
  CHECK(a.as_error() != nullptr && *a.as_error() == StoreError::storage_failed);
  CHECK_EQ(run(log.count()), 0u);
}
