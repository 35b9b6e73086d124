// A SQLite VFS over storage.Storage: SQLite's files (the database, its WAL, a rollback journal)
// are files of the node's storage service, reached through lidl calls, so the group running
// SQLite needs no file access. Every VFS method that touches a file waits for its storage call
// with FiberBridge::block_on: SQLite must run on a FiberBridge.
//
// What maps to what: xOpen -> open (create when SQLite asks), xRead -> read (a short read is
// zero-filled and reported as SQLITE_IOERR_SHORT_READ, as SQLite expects), xWrite -> write,
// xSync -> sync, xTruncate -> truncate, xFileSize -> size, xClose -> close, xDelete -> remove,
// xAccess -> exists (+ size: like the unix VFS, an empty file counts as absent). Temporary files
// (no name, or delete-on-close) live in memory. Locks are no-ops: the database is used with
// `locking_mode=EXCLUSIVE` by one connection, which is also why WAL needs no shared memory
// (the VFS has no xShmMap; SQLite keeps the WAL index on its heap).
//
// Storage failures become SQLite errors (no_space -> SQLITE_FULL, the rest -> SQLITE_IOERR_*);
// the first failure since clear_failure() is kept so the caller can say why and start over.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>

#include "services/storage/storage.lidl.hpp"

namespace camera_trap::database {

class StorageVfs {
 public:
  // Registers the VFS with SQLite under a name of its own (several can coexist in one process).
  explicit StorageVfs(storage::Storage& storage);
  ~StorageVfs();
  StorageVfs(const StorageVfs&) = delete;
  StorageVfs& operator=(const StorageVfs&) = delete;

  const char* name() const { return name_.c_str(); }
  storage::Storage& storage() { return storage_; }

  // The first storage failure since the last clear (Outcome::ok if none).
  storage::Outcome failure() const { return failure_; }
  void clear_failure() { failure_ = storage::Outcome::ok; }
  void record_failure(storage::Outcome o) {
    if (failure_ == storage::Outcome::ok) failure_ = o;
  }

  // While fenced, nothing reaches the storage that could change it (writes, truncates, syncs and
  // deletes fail with SQLITE_IOERR): closing a connection after a storage failure then leaves the
  // files exactly as the failure left them, as a crash would, instead of checkpointing whatever
  // SQLite still had in memory.
  void set_fenced(bool fenced) { fenced_ = fenced; }
  bool fenced() const { return fenced_; }

  // Counters (tests, diagnostics).
  struct Stats {
    std::uint64_t opens = 0, reads = 0, writes = 0, syncs = 0, truncates = 0, removes = 0;
  };
  const Stats& stats() const { return stats_; }
  Stats& mutable_stats() { return stats_; }

 private:
  sqlite3_vfs vfs_{};
  std::string name_;
  storage::Storage& storage_;
  storage::Outcome failure_ = storage::Outcome::ok;
  bool fenced_ = false;
  Stats stats_;
};

}  // namespace camera_trap::database
