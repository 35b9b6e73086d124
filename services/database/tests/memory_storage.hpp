// storage.Storage in memory, with a model of what a crash leaves behind: for the database tests.
//
// Each file has its durable bytes (as of its last sync) and the writes and truncates since. A
// crash — at a chosen mutating call, or when the test says so — keeps the durable bytes plus a
// random subset of the later changes, in order, the last one kept possibly torn (only a random
// part of its bytes written): what a power cut leaves on a disk that reorders unsynced writes,
// and more than a killed process leaves (all its writes). File creation and removal are durable
// when they return, as in FileStorage. After the crash every call answers io_error until
// reboot(), which installs the crash image.
//
// Faults for the failure tests: fail_writes_with(o) makes writes answer o (e.g. no_space) and
// fail_syncs_with(o) syncs, until cleared with Outcome::ok.
#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "kernel/core/task.hpp"
#include "services/storage/storage.lidl.hpp"

namespace camera_trap::database::testing {

class MemoryStorage final : public storage::Storage {
 public:
  using Outcome = storage::Outcome;

  explicit MemoryStorage(std::uint64_t seed) : rng_(seed) {}

  // The crash happens at the n-th mutating call from now (1 = the next one); 0: never.
  void crash_at(std::uint64_t n) { crash_at_ = n == 0 ? 0 : mutations_ + n; }
  void crash_now() { crash(nullptr); }
  bool crashed() const { return crashed_; }
  // Comes back with what the crash left; handles of before are gone.
  void reboot();

  void fail_writes_with(Outcome o) { write_fault_ = o; }
  void fail_syncs_with(Outcome o) { sync_fault_ = o; }

  std::uint64_t mutations() const { return mutations_; }
  std::uint64_t torn_writes() const { return torn_; }
  bool has(const std::string& name) const { return files_.count(name) != 0; }
  std::size_t size_of(const std::string& name) const;

  ambience::Task<storage::Opened> open(std::string_view name, bool create) override;
  ambience::Task<storage::Data> read(std::uint64_t file, std::uint64_t offset, std::uint32_t length) override;
  ambience::Task<Outcome> write(std::uint64_t file, std::uint64_t offset, std::span<const std::uint8_t> data) override;
  ambience::Task<Outcome> sync(std::uint64_t file) override;
  ambience::Task<Outcome> truncate(std::uint64_t file, std::uint64_t size) override;
  ambience::Task<storage::Length> size(std::uint64_t file) override;
  ambience::Task<Outcome> close(std::uint64_t file) override;
  ambience::Task<Outcome> remove(std::string_view name) override;
  ambience::Task<Outcome> exists(std::string_view name) override;

 private:
  struct Change {
    bool truncate;
    std::uint64_t offset;  // or the new size
    std::vector<std::uint8_t> data;
  };
  struct FileState {
    std::vector<std::uint8_t> durable;
    std::vector<std::uint8_t> current;
    std::vector<Change> pending;
  };
  static void apply(std::vector<std::uint8_t>& bytes, const Change& c);
  FileState* file(std::uint64_t handle);
  // Counts a mutating call; true if the storage is (now) crashed and the call must fail.
  bool mutation(const Change* in_flight);
  void crash(const Change* in_flight);

  std::mt19937_64 rng_;
  std::map<std::string, FileState> files_;
  std::map<std::uint64_t, std::string> handles_;
  std::uint64_t next_handle_ = 0;
  std::uint64_t mutations_ = 0;
  std::uint64_t crash_at_ = 0;
  std::uint64_t torn_ = 0;
  bool crashed_ = false;
  std::string in_flight_file_;
  Outcome write_fault_ = Outcome::ok;
  Outcome sync_fault_ = Outcome::ok;
};

}  // namespace camera_trap::database::testing
