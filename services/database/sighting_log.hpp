// camera_trap.database.SightingLog in SQLite, its files in the node's storage service (StorageVfs),
// so the group it runs in stays sandboxed.
//
// Durability: the database runs in WAL mode with synchronous=FULL, so a commit returns only after
// the storage synced the WAL; append answers with the id only after that. Exactly once: the
// event_id is UNIQUE; appending a known event returns the id it already has.
//
// Failures: a storage error during an operation closes the connection (whatever SQLite had in
// its caches may no longer match the files) and the next operation opens the database again, as
// after a crash: SQLite recovers from the WAL and the files. append answers storage_full (no
// space) or storage_failed (anything else, including a storage that does not answer).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kernel/core/task.hpp"
#include "services/database/database.lidl.hpp"
#include "services/database/fiber_bridge.hpp"
#include "services/database/storage_vfs.hpp"
#include "services/storage/storage.lidl.hpp"

namespace camera_trap::database {

class SqliteSightingLog final : public SightingLog {
 public:
  // At most this many sightings per range / by_species answer (a larger count is cut to it).
  static constexpr std::uint32_t kMaxQuery = 1000;
  static constexpr std::size_t kStackBytes = 256 * 1024;  // SQLite used < 8 KiB in the tests

  // `checkpoint_pages`: SQLite's wal_autocheckpoint (tests make it small to crash in checkpoints).
  explicit SqliteSightingLog(storage::Storage& storage, std::string file = "sightings.db", int checkpoint_pages = 1000);
  ~SqliteSightingLog() override;

  // Opens (or creates) the database, prints what it found; a failure is retried by every call.
  ambience::Task<void> start();

  ambience::Task<Appended> append(const Sighting& sighting) override;
  ambience::Task<std::vector<Stored>> range(std::uint64_t first, std::uint32_t count) override;
  ambience::Task<std::vector<Stored>> by_species(camera_trap::Species species, std::uint64_t first,
                                                 std::uint32_t count) override;
  ambience::Task<std::uint64_t> count() override;

  // On the bridge: PRAGMA integrity_check of the open database ("ok" when sound).
  ambience::Task<std::string> integrity_check();
  // Closes the connection (checkpointing the WAL); the next call opens it again.
  ambience::Task<void> close();

  bool is_open() const { return db_ != nullptr; }
  // Why the last open or operation failed ("" after a success).
  const std::string& problem() const { return problem_; }
  const StorageVfs& vfs() const { return vfs_; }
  const FiberBridge& bridge() const { return bridge_; }

 private:
  // All of these run on the bridge's fiber.
  bool open_now();
  void close_now();
  Appended append_now(const Sighting& s);
  std::vector<Stored> query_now(const char* sql, int species, std::uint64_t first, std::uint32_t count);
  std::uint64_t count_now();
  std::string integrity_now();
  bool exec(const char* sql);
  // After an operation: drop the connection if the storage failed under it.
  void after_operation();
  StoreError error_of_failure() const;

  StorageVfs vfs_;
  FiberBridge bridge_;
  std::string file_;
  int checkpoint_pages_;
  sqlite3* db_ = nullptr;
  std::string problem_;
  bool failing_ = false;  // the last operation hit a storage failure
};

}  // namespace camera_trap::database
