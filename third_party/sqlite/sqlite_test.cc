#include <sqlite3.h>

#include <cstring>

#include "kernel/testing/test.hpp"

AMBIENCE_TEST(header_and_library_are_the_same_version) {
  CHECK(std::strcmp(sqlite3_libversion(), SQLITE_VERSION) == 0);
  CHECK(std::strcmp(sqlite3_libversion(), "3.40.1") == 0);
  CHECK_EQ(sqlite3_libversion_number(), SQLITE_VERSION_NUMBER);
}

AMBIENCE_TEST(an_in_memory_database_stores_and_reads_back) {
  sqlite3* db = nullptr;
  CHECK_EQ(sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr), SQLITE_OK);
  CHECK_EQ(sqlite3_exec(db, "CREATE TABLE t(x INTEGER UNIQUE); INSERT INTO t VALUES (41), (42);", nullptr, nullptr,
                        nullptr),
           SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  CHECK_EQ(sqlite3_prepare_v2(db, "SELECT sum(x) FROM t", -1, &st, nullptr), SQLITE_OK);
  CHECK_EQ(sqlite3_step(st), SQLITE_ROW);
  CHECK_EQ(sqlite3_column_int64(st, 0), 83);
  sqlite3_finalize(st);
  // The UNIQUE constraint the sightings table relies on.
  CHECK_EQ(sqlite3_exec(db, "INSERT INTO t VALUES (42)", nullptr, nullptr, nullptr), SQLITE_CONSTRAINT);
  CHECK_EQ(sqlite3_close(db), SQLITE_OK);
}

AMBIENCE_TEST(built_thread_safe) { CHECK(sqlite3_threadsafe() != 0); }
