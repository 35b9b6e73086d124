// The hosted node's storage service: the files of storage.Storage as real files in one directory
// per node, served from the node's kernel group (on hosted nodes the supervisor process, which is
// not sandboxed). Groups that depend on "storage" reach it through the node's IPC and never hold a
// file descriptor themselves.
//
// The directory comes from the node's command line, `--storage-dir DIR` (or `--storage-dir=DIR`),
// else from the environment variable AMBIENCE_STORAGE_DIR; it is created if missing. Without
// either, every call answers `unavailable` (and the node says so once at start).
//
// Faults for fault campaigns, `--storage-fault SPEC` (or AMBIENCE_STORAGE_FAULT):
//   no-space-after:BYTES   once BYTES bytes were written, every write answers no_space (a full disk)
//   sync-error-after:N     after N successful syncs, every sync fails (io_error; the handle is failed)
// A malformed SPEC makes the storage unusable (`unavailable`) with a message naming it.
//
// The calls are plain blocking system calls on the supervisor's loop (an fsync holds the node's
// loop for as long as the device takes); that keeps their order exactly the order of the calls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>

#include "kernel/core/task.hpp"
#include "services/storage/storage.lidl.hpp"

namespace storage {

class FileStorage final : public Storage {
 public:
  static constexpr std::uint32_t kMaxRead = 4u << 20;
  // More open handles than this: the least recently used is closed (its owner sees not_found and
  // opens again). Callers that crash never close theirs, so a bound without eviction would fill up.
  static constexpr std::size_t kMaxOpenFiles = 64;
  static constexpr std::size_t kMaxName = 128;

  // The directory of the node's command line or environment (see above).
  FileStorage();
  // Files under `root` (created if missing); an empty root means no storage (`unavailable`).
  // `fault`: a --storage-fault SPEC ("" for none).
  explicit FileStorage(std::string root, std::string_view fault = "");
  ~FileStorage() override;
  FileStorage(const FileStorage&) = delete;
  FileStorage& operator=(const FileStorage&) = delete;

  ambience::Task<void> start();

  ambience::Task<Opened> open(std::string_view name, bool create) override;
  ambience::Task<Data> read(std::uint64_t file, std::uint64_t offset, std::uint32_t length) override;
  ambience::Task<Outcome> write(std::uint64_t file, std::uint64_t offset, std::span<const std::uint8_t> data) override;
  ambience::Task<Outcome> sync(std::uint64_t file) override;
  ambience::Task<Outcome> truncate(std::uint64_t file, std::uint64_t size) override;
  ambience::Task<Length> size(std::uint64_t file) override;
  ambience::Task<Outcome> close(std::uint64_t file) override;
  ambience::Task<Outcome> remove(std::string_view name) override;
  ambience::Task<Outcome> exists(std::string_view name) override;

  // The synchronous operations behind the interface (the coroutines only wrap them).
  Opened open_now(std::string_view name, bool create);
  Data read_now(std::uint64_t file, std::uint64_t offset, std::uint32_t length);
  Outcome write_now(std::uint64_t file, std::uint64_t offset, std::span<const std::uint8_t> data);
  Outcome sync_now(std::uint64_t file);
  Outcome truncate_now(std::uint64_t file, std::uint64_t size);
  Length size_now(std::uint64_t file);
  Outcome close_now(std::uint64_t file);
  Outcome remove_now(std::string_view name);
  Outcome exists_now(std::string_view name);

  const std::string& root() const { return root_; }
  // Why the directory is unusable ("" when it is usable).
  const std::string& problem() const { return problem_; }
  std::size_t open_files() const { return files_.size(); }
  std::uint64_t evicted() const { return evicted_; }

  // A name a caller may use: 1..kMaxName of [A-Za-z0-9._-], not starting with '.'.
  static bool valid_name(std::string_view name);
  // The value of `--NAME VALUE` / `--NAME=VALUE` among `args` (the last one), else "".
  static std::string flag_argument(std::span<const std::string_view> args, std::string_view flag);
  static std::string storage_dir_argument(std::span<const std::string_view> args) {
    return flag_argument(args, "--storage-dir");
  }

 private:
  struct File {
    int fd;
    // A write or sync failed: what the kernel had buffered may be gone although a later fsync
    // would report success, so the handle refuses writes and syncs until reopened.
    bool failed;
    std::uint64_t last_use;
  };
  File* find(std::uint64_t file);
  Outcome sync_directory();

  std::string root_;
  std::string problem_;
  int dir_fd_ = -1;
  std::map<std::uint64_t, File> files_;
  std::uint64_t next_handle_ = 0;
  std::uint64_t handle_key_ = 0;  // mixed into handles: a caller cannot guess another's
  std::uint64_t clock_ = 0;       // for last_use
  std::uint64_t evicted_ = 0;
  // Injected faults (0: none).
  std::uint64_t no_space_after_ = 0, written_ = 0;
  std::uint64_t sync_error_after_ = 0, synced_ = 0;
};

}  // namespace storage
