#include "services/storage/file_storage.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "kernel/testing/test.hpp"

namespace {

using storage::FileStorage;
using storage::Outcome;

std::string temp_dir() {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/storage.XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) std::abort();
  return buf.data();
}

std::uint64_t handle_of(const storage::Opened& o) {
  const std::uint64_t* h = o.as_handle();
  return h == nullptr ? 0 : *h;
}

std::vector<std::uint8_t> bytes_of(const char* s) { return {s, s + std::strlen(s)}; }

}  // namespace

AMBIENCE_TEST(names_are_confined_to_the_directory) {
  CHECK(FileStorage::valid_name("sightings.db-wal"));
  CHECK(FileStorage::valid_name("a_B-9.x"));
  for (const char* bad : {"", ".", "..", "../x", "/etc/passwd", "a/b", ".hidden", "a b", "x\n", "é"}) {
    CHECK(!FileStorage::valid_name(bad));
  }
  CHECK(!FileStorage::valid_name(std::string(FileStorage::kMaxName + 1, 'a')));
  CHECK(FileStorage::valid_name(std::string(FileStorage::kMaxName, 'a')));
  const std::string root = temp_dir() + "/node";
  FileStorage fs(root);
  for (const char* bad : {"../escape", "/tmp/escape", "sub/file", ".."}) {
    const storage::Opened o = fs.open_now(bad, true);
    CHECK(o.as_error() != nullptr && *o.as_error() == Outcome::bad_name);
    CHECK(fs.remove_now(bad) == Outcome::bad_name);
    CHECK(fs.exists_now(bad) == Outcome::bad_name);
  }
  struct stat st;
  CHECK(::stat((root + "/../escape").c_str(), &st) != 0);
}

AMBIENCE_TEST(files_round_trip_and_survive_a_new_instance) {
  const std::string root = temp_dir() + "/deep/node";  // created with its parents
  {
    FileStorage fs(root);
    CHECK(fs.problem().empty());
    CHECK(fs.exists_now("f") == Outcome::not_found);
    const storage::Opened missing = fs.open_now("f", false);
    CHECK(missing.as_error() != nullptr && *missing.as_error() == Outcome::not_found);
    const std::uint64_t h = handle_of(fs.open_now("f", true));
    CHECK(h != 0);
    CHECK(fs.exists_now("f") == Outcome::ok);
    const auto hello = bytes_of("hello, storage");
    CHECK(fs.write_now(h, 10, hello) == Outcome::ok);  // a hole before it reads as zeros
    CHECK(fs.sync_now(h) == Outcome::ok);
    CHECK_EQ(*fs.size_now(h).as_size(), 10 + hello.size());
    const storage::Data d = fs.read_now(h, 0, 100);  // short at the end of the file
    CHECK(d.as_data() != nullptr);
    CHECK_EQ(d.as_data()->size(), 10 + hello.size());
    CHECK((*d.as_data())[0] == 0 && (*d.as_data())[10] == 'h');
    CHECK(fs.truncate_now(h, 12) == Outcome::ok);
    CHECK_EQ(*fs.size_now(h).as_size(), 12u);
    const storage::Data big = fs.read_now(h, 0, FileStorage::kMaxRead + 1);
    CHECK(big.as_error() != nullptr && *big.as_error() == Outcome::too_large);
    CHECK(fs.close_now(h) == Outcome::ok);
    CHECK(fs.close_now(h) == Outcome::not_found);
    CHECK(fs.write_now(h, 0, hello) == Outcome::not_found);
    CHECK(fs.sync_now(h) == Outcome::not_found);
  }
  FileStorage again(root);
  const std::uint64_t h = handle_of(again.open_now("f", false));
  CHECK(h != 0);
  const storage::Data d = again.read_now(h, 10, 2);
  CHECK(d.as_data() != nullptr && *d.as_data() == bytes_of("he"));
  CHECK(again.remove_now("f") == Outcome::ok);
  CHECK(again.remove_now("f") == Outcome::not_found);
  CHECK(again.exists_now("f") == Outcome::not_found);
}

AMBIENCE_TEST(handles_are_bounded_and_the_least_recently_used_is_evicted) {
  FileStorage fs(temp_dir());
  std::vector<std::uint64_t> handles;
  for (std::size_t i = 0; i < FileStorage::kMaxOpenFiles; ++i) {
    handles.push_back(handle_of(fs.open_now("same", true)));
    CHECK(handles.back() != 0);
  }
  CHECK(handles[1] - handles[0] > 1000 || handles[0] - handles[1] > 1000);  // not a plain counter
  // Handle 0 is used again, so handle 1 is now the least recently used: the next open evicts it.
  CHECK(fs.write_now(handles[0], 0, bytes_of("x")) == Outcome::ok);
  const std::uint64_t extra = handle_of(fs.open_now("same", true));
  CHECK(extra != 0);
  CHECK_EQ(fs.open_files(), FileStorage::kMaxOpenFiles);
  CHECK_EQ(fs.evicted(), 1u);
  CHECK(fs.write_now(handles[1], 0, bytes_of("x")) == Outcome::not_found);  // its owner opens again
  CHECK(fs.write_now(handles[0], 0, bytes_of("y")) == Outcome::ok);
  CHECK(fs.write_now(12345, 0, bytes_of("x")) == Outcome::not_found);
  CHECK(fs.close_now(extra) == Outcome::ok);
  for (std::size_t i = 0; i < handles.size(); ++i)
    CHECK(fs.close_now(handles[i]) == (i == 1 ? Outcome::not_found : Outcome::ok));
  CHECK_EQ(fs.open_files(), 0u);
}

AMBIENCE_TEST(injected_faults_a_full_disk_and_failing_syncs) {
  FileStorage full(temp_dir(), "no-space-after:10");
  CHECK(full.problem().empty());
  std::uint64_t h = handle_of(full.open_now("f", true));
  CHECK(full.write_now(h, 0, bytes_of("123456")) == Outcome::ok);
  CHECK(full.write_now(h, 6, bytes_of("78901")) == Outcome::no_space);  // 11 > 10: nothing written
  CHECK_EQ(*full.size_now(h).as_size(), 6u);
  CHECK(full.write_now(h, 6, bytes_of("7890")) == Outcome::ok);  // exactly full
  CHECK(full.sync_now(h) == Outcome::ok);  // a full disk still syncs what it holds

  FileStorage failing(temp_dir(), "sync-error-after:2");
  h = handle_of(failing.open_now("f", true));
  CHECK(failing.sync_now(h) == Outcome::ok);
  CHECK(failing.sync_now(h) == Outcome::ok);
  CHECK(failing.sync_now(h) == Outcome::io_error);
  CHECK(failing.write_now(h, 0, bytes_of("x")) == Outcome::io_error);  // the handle is failed now
  const std::uint64_t again = handle_of(failing.open_now("f", false));
  CHECK(failing.write_now(again, 0, bytes_of("x")) == Outcome::ok);  // a fresh handle writes
  CHECK(failing.sync_now(again) == Outcome::io_error);               // but the device still fails syncs

  for (const char* bad : {"no-space-after", "no-space-after:", "no-space-after:0", "no-space-after:12x",
                          "sync-error-after:-1", "full", "no-space-after:99999999999999999999999"}) {
    FileStorage fs(temp_dir(), bad);
    CHECK(fs.problem().find("bad --storage-fault") != std::string::npos);
    const storage::Opened o = fs.open_now("f", true);
    CHECK(o.as_error() != nullptr && *o.as_error() == Outcome::unavailable);
  }
}

AMBIENCE_TEST(a_symbolic_link_is_not_followed) {
  const std::string root = temp_dir();
  FileStorage fs(root);
  const std::string outside = temp_dir() + "/target";
  CHECK(::symlink(outside.c_str(), (root + "/link").c_str()) == 0);
  const storage::Opened o = fs.open_now("link", true);
  CHECK(o.as_error() != nullptr);
  struct stat st;
  CHECK(::stat(outside.c_str(), &st) != 0);  // nothing was created through the link
}

AMBIENCE_TEST(without_a_directory_every_call_is_unavailable) {
  FileStorage fs{std::string()};
  CHECK(!fs.problem().empty());
  const storage::Opened o = fs.open_now("f", true);
  CHECK(o.as_error() != nullptr && *o.as_error() == Outcome::unavailable);
  CHECK(fs.write_now(1, 0, bytes_of("x")) == Outcome::unavailable);
  CHECK(fs.exists_now("f") == Outcome::unavailable);
  FileStorage file_in_the_way("/dev/null/x");
  CHECK(!file_in_the_way.problem().empty());
}

AMBIENCE_TEST(the_flag_is_found_in_both_spellings) {
  const std::string_view a[] = {"node", "--udp-map", "x", "--storage-dir", "/var/lib/a"};
  CHECK(FileStorage::storage_dir_argument(a) == "/var/lib/a");
  const std::string_view b[] = {"node", "--storage-dir=/srv/b", "--exit-after-ms", "5"};
  CHECK(FileStorage::storage_dir_argument(b) == "/srv/b");
  const std::string_view c[] = {"node", "--storage-dir"};  // no value: not configured
  CHECK(FileStorage::storage_dir_argument(c).empty());
  const std::string_view d[] = {"node", "--storage-fault", "no-space-after:5", "--storage-dir=/x"};
  CHECK(FileStorage::flag_argument(d, "--storage-fault") == "no-space-after:5");
  CHECK(FileStorage::storage_dir_argument(d) == "/x");
}
