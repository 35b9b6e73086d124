#include "services/database/sighting_log.hpp"

#include <cstring>
#include <utility>

#include "kernel/core/console.hpp"

namespace camera_trap::database {
namespace {

const char* outcome_name(storage::Outcome o) {
  switch (o) {
    case storage::Outcome::no_answer: return "no answer from the storage";
    case storage::Outcome::ok: return "ok";
    case storage::Outcome::not_found: return "not found";
    case storage::Outcome::bad_name: return "bad name";
    case storage::Outcome::no_space: return "storage full";
    case storage::Outcome::io_error: return "I/O error";
    case storage::Outcome::too_large: return "too large";
    case storage::Outcome::unavailable: return "no storage on this node";
  }
  return "unknown storage outcome";
}

// Prepared statement that finalizes itself.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &st_, nullptr); }
  ~Statement() { sqlite3_finalize(st_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  bool ok() const { return rc_ == SQLITE_OK; }
  sqlite3_stmt* get() { return st_; }
  int step() { return sqlite3_step(st_); }

 private:
  sqlite3_stmt* st_ = nullptr;
  int rc_;
};

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS sightings ("
    " id INTEGER PRIMARY KEY,"
    " event_id INTEGER NOT NULL UNIQUE,"
    " species INTEGER NOT NULL,"
    " confidence REAL NOT NULL,"
    " taken_at_ms INTEGER NOT NULL) STRICT";

// u64 values are stored as the int64 with the same bits (SQLite integers are signed).
sqlite3_int64 to_sql(std::uint64_t v) { return static_cast<sqlite3_int64>(v); }
std::uint64_t from_sql(sqlite3_int64 v) { return static_cast<std::uint64_t>(v); }

Stored stored_of(sqlite3_stmt* st) {
  Stored s;
  s.id = from_sql(sqlite3_column_int64(st, 0));
  s.sighting.event_id = from_sql(sqlite3_column_int64(st, 1));
  const auto species = static_cast<camera_trap::Species>(sqlite3_column_int(st, 2));
  s.sighting.species = camera_trap::lidl_valid(species) ? species : camera_trap::Species::unknown;
  s.sighting.confidence = static_cast<float>(sqlite3_column_double(st, 3));
  s.sighting.taken_at_ms = from_sql(sqlite3_column_int64(st, 4));
  return s;
}

}  // namespace

SqliteSightingLog::SqliteSightingLog(storage::Storage& storage, std::string file, int checkpoint_pages)
    : vfs_(storage), bridge_(kStackBytes), file_(std::move(file)), checkpoint_pages_(checkpoint_pages) {
  // Seeds SQLite's random generator now, from the default VFS (/dev/urandom), while the group's
  // sandbox is still open: later (WAL salts) SQLite only draws from the seeded generator.
  unsigned char seed;
  sqlite3_randomness(1, &seed);
}

// A connection still open here cannot be closed: closing calls the storage, which needs the
// bridge's fiber and the loop. The process is ending (tests close() first).
SqliteSightingLog::~SqliteSightingLog() = default;

bool SqliteSightingLog::exec(const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) == SQLITE_OK) return true;
  problem_ = std::string(sql) + ": " + (message != nullptr ? message : sqlite3_errmsg(db_));
  sqlite3_free(message);
  return false;
}

bool SqliteSightingLog::open_now() {
  vfs_.clear_failure();
  vfs_.set_fenced(false);
  problem_.clear();
  const int rc = sqlite3_open_v2(file_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs_.name());
  if (rc != SQLITE_OK) {
    problem_ = std::string("cannot open ") + file_ + ": " + (db_ != nullptr ? sqlite3_errmsg(db_) : "no memory");
    if (vfs_.failure() != storage::Outcome::ok) problem_ += std::string(" (") + outcome_name(vfs_.failure()) + ")";
    close_now();
    return false;
  }
  // EXCLUSIVE before WAL: with the lock held for good, SQLite keeps the WAL index on its heap and
  // needs no shared memory from the VFS (which has none to offer in a sandbox).
  bool ok = exec("PRAGMA locking_mode=EXCLUSIVE");
  if (ok) {
    Statement wal(db_, "PRAGMA journal_mode=WAL");
    ok = wal.ok() && wal.step() == SQLITE_ROW &&
         std::strcmp(reinterpret_cast<const char*>(sqlite3_column_text(wal.get(), 0)), "wal") == 0;
    if (!ok) problem_ = std::string("cannot switch ") + file_ + " to WAL: " + sqlite3_errmsg(db_);
  }
  const std::string checkpoint = "PRAGMA wal_autocheckpoint=" + std::to_string(checkpoint_pages_);
  ok = ok && exec("PRAGMA synchronous=FULL") && exec(checkpoint.c_str()) && exec(kSchema);
  if (ok) {
    const std::string check = integrity_now();
    if (check != "ok") {
      problem_ = file_ + " failed its integrity check: " + check;
      ok = false;
    }
  }
  if (!ok || vfs_.failure() != storage::Outcome::ok) {
    if (vfs_.failure() != storage::Outcome::ok) problem_ += std::string(" (") + outcome_name(vfs_.failure()) + ")";
    vfs_.set_fenced(true);
    close_now();
    return false;
  }
  return true;
}

void SqliteSightingLog::close_now() {
  if (db_ != nullptr) sqlite3_close_v2(db_);
  db_ = nullptr;
}

void SqliteSightingLog::after_operation() {
  if (vfs_.failure() == storage::Outcome::ok) {
    if (failing_) ambience::println("database: the storage works again");
    failing_ = false;
    return;
  }
  problem_ = std::string("storage failed: ") + outcome_name(vfs_.failure()) + "; reopening on the next call";
  // Once per outage: a caller that keeps trying must not flood the console.
  if (!failing_) ambience::println("database: ", problem_.c_str());
  failing_ = true;
  vfs_.set_fenced(true);
  close_now();
}

StoreError SqliteSightingLog::error_of_failure() const {
  return vfs_.failure() == storage::Outcome::no_space ? StoreError::storage_full : StoreError::storage_failed;
}

Appended SqliteSightingLog::append_now(const Sighting& s) {
  if (db_ == nullptr && !open_now()) return Appended::make_error(error_of_failure());
  Appended out = Appended::make_error(StoreError::storage_failed);
  bool known = false;
  {
    Statement find(db_, "SELECT id FROM sightings WHERE event_id = ?1");
    if (find.ok()) {
      sqlite3_bind_int64(find.get(), 1, to_sql(s.event_id));
      const int rc = find.step();
      if (rc == SQLITE_ROW) {
        out.alternatives.emplace<0>(from_sql(sqlite3_column_int64(find.get(), 0)));
        known = true;
      }
    }
  }
  if (!known && vfs_.failure() == storage::Outcome::ok) {
    Statement insert(db_, "INSERT INTO sightings (event_id, species, confidence, taken_at_ms) VALUES (?1, ?2, ?3, ?4)");
    if (insert.ok()) {
      sqlite3_bind_int64(insert.get(), 1, to_sql(s.event_id));
      sqlite3_bind_int(insert.get(), 2, static_cast<int>(s.species));
      sqlite3_bind_double(insert.get(), 3, static_cast<double>(s.confidence));
      sqlite3_bind_int64(insert.get(), 4, to_sql(s.taken_at_ms));
      // Autocommit with synchronous=FULL: SQLITE_DONE means the WAL was synced.
      const int rc = insert.step();
      if (rc == SQLITE_DONE) {
        out.alternatives.emplace<0>(from_sql(sqlite3_last_insert_rowid(db_)));
      } else {
        out = Appended::make_error(rc == SQLITE_FULL || vfs_.failure() == storage::Outcome::no_space
                                       ? StoreError::storage_full
                                       : StoreError::storage_failed);
        if (vfs_.failure() == storage::Outcome::ok) problem_ = sqlite3_errmsg(db_);
      }
    }
  } else if (!known) {
    out = Appended::make_error(error_of_failure());
  }
  after_operation();
  return out;
}

std::vector<Stored> SqliteSightingLog::query_now(const char* sql, int species, std::uint64_t first,
                                                 std::uint32_t count) {
  std::vector<Stored> out;
  if (db_ == nullptr && !open_now()) return out;
  if (count > kMaxQuery) count = kMaxQuery;
  {
    Statement q(db_, sql);
    if (q.ok()) {
      sqlite3_bind_int64(q.get(), 1, to_sql(first));
      sqlite3_bind_int64(q.get(), 2, count);
      if (species >= 0) sqlite3_bind_int(q.get(), 3, species);
      while (q.step() == SQLITE_ROW) out.push_back(stored_of(q.get()));
    }
  }
  after_operation();
  return out;
}

std::uint64_t SqliteSightingLog::count_now() {
  if (db_ == nullptr && !open_now()) return 0;
  std::uint64_t n = 0;
  {
    Statement q(db_, "SELECT count(*) FROM sightings");
    if (q.ok() && q.step() == SQLITE_ROW) n = from_sql(sqlite3_column_int64(q.get(), 0));
  }
  after_operation();
  return n;
}

std::string SqliteSightingLog::integrity_now() {
  if (db_ == nullptr) return "not open";
  std::string result;
  Statement q(db_, "PRAGMA integrity_check");
  if (!q.ok()) return sqlite3_errmsg(db_);
  while (q.step() == SQLITE_ROW) {
    if (!result.empty()) result += "; ";
    result += reinterpret_cast<const char*>(sqlite3_column_text(q.get(), 0));
  }
  return result.empty() ? std::string(sqlite3_errmsg(db_)) : result;
}

ambience::Task<void> SqliteSightingLog::start() {
  std::uint64_t n = 0;
  bool opened = false;
  auto fn = [&] {
    opened = open_now();
    if (opened) n = count_now();
  };
  co_await bridge_.run(fn);
  if (opened && db_ != nullptr) {
    ambience::println("database: ", file_.c_str(), " open (WAL, synchronous=FULL, integrity ok): ", n, " sightings");
  } else {
    ambience::println("database: error: ", problem_.c_str(), "; every call retries");
  }
}

ambience::Task<Appended> SqliteSightingLog::append(const Sighting& sighting) {
  Appended out = Appended::make_error(StoreError::storage_failed);
  auto fn = [&] { out = append_now(sighting); };
  co_await bridge_.run(fn);
  co_return out;
}

ambience::Task<std::vector<Stored>> SqliteSightingLog::range(std::uint64_t first, std::uint32_t count) {
  std::vector<Stored> out;
  auto fn = [&] {
    out = query_now(
        "SELECT id, event_id, species, confidence, taken_at_ms FROM sightings WHERE id >= ?1 ORDER BY id LIMIT ?2", -1,
        first, count);
  };
  co_await bridge_.run(fn);
  co_return out;
}

ambience::Task<std::vector<Stored>> SqliteSightingLog::by_species(camera_trap::Species species, std::uint64_t first,
                                                                  std::uint32_t count) {
  std::vector<Stored> out;
  auto fn = [&] {
    out = query_now(
        "SELECT id, event_id, species, confidence, taken_at_ms FROM sightings WHERE id >= ?1 AND species = ?3 "
        "ORDER BY id LIMIT ?2",
        static_cast<int>(species), first, count);
  };
  co_await bridge_.run(fn);
  co_return out;
}

ambience::Task<std::uint64_t> SqliteSightingLog::count() {
  std::uint64_t out = 0;
  auto fn = [&] { out = count_now(); };
  co_await bridge_.run(fn);
  co_return out;
}

ambience::Task<std::string> SqliteSightingLog::integrity_check() {
  std::string out;
  auto fn = [&] { out = integrity_now(); };
  co_await bridge_.run(fn);
  co_return out;
}

ambience::Task<void> SqliteSightingLog::close() {
  auto fn = [&] { close_now(); };
  co_await bridge_.run(fn);
}

}  // namespace camera_trap::database
