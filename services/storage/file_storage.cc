#include "services/storage/file_storage.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernel/core/console.hpp"

namespace storage {
namespace {

// The arguments of this process, from /proc/self/cmdline: a node-provided service is built by
// the generated main without arguments, and the supervisor's command line is the node's.
std::vector<std::string> process_arguments() {
  std::vector<std::string> args;
  FILE* f = std::fopen("/proc/self/cmdline", "rb");
  if (f == nullptr) return args;
  std::string all;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) all.append(buf, n);
  std::fclose(f);
  for (std::size_t i = 0; i < all.size();) {
    const std::size_t end = all.find('\0', i);
    const std::size_t stop = end == std::string::npos ? all.size() : end;
    args.emplace_back(all.substr(i, stop - i));
    i = stop + 1;
  }
  return args;
}

std::string configured(std::string_view flag, const char* env_name) {
  const std::vector<std::string> args = process_arguments();
  std::vector<std::string_view> views(args.begin(), args.end());
  std::string value = FileStorage::flag_argument(views, flag);
  if (value.empty()) {
    if (const char* env = std::getenv(env_name); env != nullptr) value = env;
  }
  return value;
}

// "KEY:NUMBER" with KEY = `key`: the number (> 0), else 0.
std::uint64_t fault_number(std::string_view spec, std::string_view key) {
  if (spec.size() <= key.size() + 1 || spec.substr(0, key.size()) != key || spec[key.size()] != ':') return 0;
  std::uint64_t n = 0;
  for (char c : spec.substr(key.size() + 1)) {
    if (c < '0' || c > '9' || n > (~0ull - 9) / 10) return 0;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return n;
}

// mkdir -p: every missing component of `path`.
bool make_directories(const std::string& path) {
  for (std::size_t i = 1; i <= path.size(); ++i) {
    if (i != path.size() && path[i] != '/') continue;
    const std::string prefix = path.substr(0, i);
    if (::mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) return false;
  }
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Outcome failure(int error) { return error == ENOSPC || error == EDQUOT ? Outcome::no_space : Outcome::io_error; }

}  // namespace

FileStorage::FileStorage()
    : FileStorage(configured("--storage-dir", "AMBIENCE_STORAGE_DIR"),
                  configured("--storage-fault", "AMBIENCE_STORAGE_FAULT")) {}

FileStorage::FileStorage(std::string root, std::string_view fault) : root_(std::move(root)) {
  if (::getrandom(&handle_key_, sizeof handle_key_, 0) != sizeof handle_key_) handle_key_ = 0x9e3779b97f4a7c15ull;
  if (!fault.empty()) {
    no_space_after_ = fault_number(fault, "no-space-after");
    sync_error_after_ = fault_number(fault, "sync-error-after");
    if (no_space_after_ == 0 && sync_error_after_ == 0) {
      problem_ =
          "bad --storage-fault \"" + std::string(fault) + "\" (want no-space-after:BYTES or sync-error-after:N, N > 0)";
      return;
    }
  }
  if (root_.empty()) {
    problem_ = "no storage directory: start the node with --storage-dir DIR (or set AMBIENCE_STORAGE_DIR)";
    return;
  }
  if (!make_directories(root_)) {
    problem_ = "cannot create the storage directory " + root_ + ": " + std::strerror(errno);
    return;
  }
  dir_fd_ = ::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd_ < 0) problem_ = "cannot open the storage directory " + root_ + ": " + std::strerror(errno);
}

FileStorage::~FileStorage() {
  for (auto& [handle, file] : files_) ::close(file.fd);
  if (dir_fd_ >= 0) ::close(dir_fd_);
}

ambience::Task<void> FileStorage::start() {
  if (problem_.empty()) {
    ambience::println("storage: files in ", root_.c_str());
    if (no_space_after_ != 0)
      ambience::println("storage: fault: writes answer no_space after ", no_space_after_, " bytes");
    if (sync_error_after_ != 0) ambience::println("storage: fault: syncs fail after ", sync_error_after_, " syncs");
  } else {
    ambience::println("storage: error: ", problem_.c_str(), "; every storage call answers unavailable");
  }
  co_return;
}

bool FileStorage::valid_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxName || name[0] == '.') return false;
  for (char c : name) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string FileStorage::flag_argument(std::span<const std::string_view> args, std::string_view flag) {
  std::string value;
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (arg == flag && i + 1 < args.size()) {
      value = std::string(args[++i]);
    } else if (arg.size() > flag.size() && arg.substr(0, flag.size()) == flag && arg[flag.size()] == '=') {
      value = std::string(arg.substr(flag.size() + 1));
    }
  }
  return value;
}

FileStorage::File* FileStorage::find(std::uint64_t file) {
  auto it = files_.find(file);
  if (it == files_.end()) return nullptr;
  it->second.last_use = ++clock_;
  return &it->second;
}

Outcome FileStorage::sync_directory() { return ::fsync(dir_fd_) == 0 ? Outcome::ok : Outcome::io_error; }

Opened FileStorage::open_now(std::string_view name, bool create) {
  if (dir_fd_ < 0) return Opened::make_error(Outcome::unavailable);
  if (!valid_name(name)) return Opened::make_error(Outcome::bad_name);
  if (files_.size() >= kMaxOpenFiles) {
    auto oldest = files_.begin();
    for (auto it = files_.begin(); it != files_.end(); ++it) {
      if (it->second.last_use < oldest->second.last_use) oldest = it;
    }
    ::close(oldest->second.fd);
    files_.erase(oldest);
    ++evicted_;
  }
  const std::string n(name);
  // O_NOFOLLOW: a symbolic link someone put in the directory cannot lead the file elsewhere.
  int fd = ::openat(dir_fd_, n.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  bool created = false;
  if (fd < 0 && errno == ENOENT && create) {
    fd = ::openat(dir_fd_, n.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_CREAT | O_EXCL, 0600);
    if (fd < 0 && errno == EEXIST) fd = ::openat(dir_fd_, n.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    created = fd >= 0;
  }
  if (fd < 0) return Opened::make_error(errno == ENOENT ? Outcome::not_found : failure(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Opened::make_error(Outcome::bad_name);
  }
  // The new directory entry must be durable before the caller relies on the file existing.
  if (created && sync_directory() != Outcome::ok) {
    ::close(fd);
    return Opened::make_error(Outcome::io_error);
  }
  std::uint64_t handle;
  do {
    // A bijective mix (splitmix64's finalizer) of a counter: unique, and no pattern to guess.
    std::uint64_t z = ++next_handle_ + handle_key_;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    handle = z ^ (z >> 31);
  } while (handle == 0 || files_.count(handle) != 0);
  files_.emplace(handle, File{fd, false, ++clock_});
  Opened r;
  r.alternatives.emplace<1>(handle);
  return r;
}

Data FileStorage::read_now(std::uint64_t file, std::uint64_t offset, std::uint32_t length) {
  File* f = find(file);
  if (f == nullptr) return Data::make_error(dir_fd_ < 0 ? Outcome::unavailable : Outcome::not_found);
  if (length > kMaxRead) return Data::make_error(Outcome::too_large);
  std::vector<std::uint8_t> out(length);
  std::size_t got = 0;
  while (got < length) {
    const ssize_t n = ::pread(f->fd, out.data() + got, length - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Data::make_error(Outcome::io_error);
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  out.resize(got);
  Data r;
  r.alternatives.emplace<1>(std::move(out));
  return r;
}

Outcome FileStorage::write_now(std::uint64_t file, std::uint64_t offset, std::span<const std::uint8_t> data) {
  File* f = find(file);
  if (f == nullptr) return dir_fd_ < 0 ? Outcome::unavailable : Outcome::not_found;
  if (f->failed) return Outcome::io_error;
  if (no_space_after_ != 0 && written_ + data.size() > no_space_after_) return Outcome::no_space;
  written_ += data.size();
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::pwrite(f->fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const Outcome o = n < 0 ? failure(errno) : Outcome::io_error;
      if (o == Outcome::io_error) f->failed = true;
      return o;
    }
    done += static_cast<std::size_t>(n);
  }
  return Outcome::ok;
}

Outcome FileStorage::sync_now(std::uint64_t file) {
  File* f = find(file);
  if (f == nullptr) return dir_fd_ < 0 ? Outcome::unavailable : Outcome::not_found;
  if (f->failed) return Outcome::io_error;
  if (sync_error_after_ != 0 && synced_ >= sync_error_after_) {
    f->failed = true;
    return Outcome::io_error;
  }
  ++synced_;
  if (::fsync(f->fd) != 0) {
    const int e = errno;
    f->failed = true;
    return failure(e);
  }
  return Outcome::ok;
}

Outcome FileStorage::truncate_now(std::uint64_t file, std::uint64_t size) {
  File* f = find(file);
  if (f == nullptr) return dir_fd_ < 0 ? Outcome::unavailable : Outcome::not_found;
  if (f->failed) return Outcome::io_error;
  if (::ftruncate(f->fd, static_cast<off_t>(size)) != 0) return failure(errno);
  return Outcome::ok;
}

Length FileStorage::size_now(std::uint64_t file) {
  File* f = find(file);
  if (f == nullptr) return Length::make_error(dir_fd_ < 0 ? Outcome::unavailable : Outcome::not_found);
  struct stat st;
  if (::fstat(f->fd, &st) != 0) return Length::make_error(Outcome::io_error);
  Length r;
  r.alternatives.emplace<1>(static_cast<std::uint64_t>(st.st_size));
  return r;
}

Outcome FileStorage::close_now(std::uint64_t file) {
  auto it = files_.find(file);
  if (it == files_.end()) return dir_fd_ < 0 ? Outcome::unavailable : Outcome::not_found;
  ::close(it->second.fd);
  files_.erase(it);
  return Outcome::ok;
}

Outcome FileStorage::remove_now(std::string_view name) {
  if (dir_fd_ < 0) return Outcome::unavailable;
  if (!valid_name(name)) return Outcome::bad_name;
  const std::string n(name);
  if (::unlinkat(dir_fd_, n.c_str(), 0) != 0) return errno == ENOENT ? Outcome::not_found : failure(errno);
  return sync_directory();
}

Outcome FileStorage::exists_now(std::string_view name) {
  if (dir_fd_ < 0) return Outcome::unavailable;
  if (!valid_name(name)) return Outcome::bad_name;
  const std::string n(name);
  struct stat st;
  if (::fstatat(dir_fd_, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return errno == ENOENT ? Outcome::not_found : Outcome::io_error;
  }
  return S_ISREG(st.st_mode) ? Outcome::ok : Outcome::bad_name;
}

ambience::Task<Opened> FileStorage::open(std::string_view name, bool create) { co_return open_now(name, create); }
ambience::Task<Data> FileStorage::read(std::uint64_t file, std::uint64_t offset, std::uint32_t length) {
  co_return read_now(file, offset, length);
}
ambience::Task<Outcome> FileStorage::write(std::uint64_t file, std::uint64_t offset,
                                           std::span<const std::uint8_t> data) {
  co_return write_now(file, offset, data);
}
ambience::Task<Outcome> FileStorage::sync(std::uint64_t file) { co_return sync_now(file); }
ambience::Task<Outcome> FileStorage::truncate(std::uint64_t file, std::uint64_t size) {
  co_return truncate_now(file, size);
}
ambience::Task<Length> FileStorage::size(std::uint64_t file) { co_return size_now(file); }
ambience::Task<Outcome> FileStorage::close(std::uint64_t file) { co_return close_now(file); }
ambience::Task<Outcome> FileStorage::remove(std::string_view name) { co_return remove_now(name); }
ambience::Task<Outcome> FileStorage::exists(std::string_view name) { co_return exists_now(name); }

}  // namespace storage
