#include "services/database/tests/memory_storage.hpp"

#include <algorithm>

namespace camera_trap::database::testing {

using storage::Data;
using storage::Length;
using storage::Opened;

std::size_t MemoryStorage::size_of(const std::string& name) const {
  auto it = files_.find(name);
  return it == files_.end() ? 0 : it->second.current.size();
}

void MemoryStorage::apply(std::vector<std::uint8_t>& bytes, const Change& c) {
  if (c.truncate) {
    bytes.resize(c.offset);
    return;
  }
  const std::size_t end = c.offset + c.data.size();
  if (bytes.size() < end) bytes.resize(end);
  std::copy(c.data.begin(), c.data.end(), bytes.begin() + static_cast<std::ptrdiff_t>(c.offset));
}

MemoryStorage::FileState* MemoryStorage::file(std::uint64_t handle) {
  auto h = handles_.find(handle);
  if (h == handles_.end()) return nullptr;
  auto f = files_.find(h->second);
  return f == files_.end() ? nullptr : &f->second;
}

bool MemoryStorage::mutation(const Change* in_flight) {
  if (crashed_) return true;
  ++mutations_;
  if (crash_at_ != 0 && mutations_ >= crash_at_) {
    crash(in_flight);
    return true;
  }
  return false;
}

void MemoryStorage::crash(const Change* in_flight) {
  crashed_ = true;
  for (auto& [name, f] : files_) {
    std::vector<std::uint8_t> image = f.durable;
    std::vector<Change> changes = f.pending;
    // The call that crashed was under way: it may have reached the disk in part.
    if (in_flight != nullptr && name == in_flight_file_) changes.push_back(*in_flight);
    for (std::size_t i = 0; i < changes.size(); ++i) {
      if (rng_() % 2 == 0) continue;  // this change never reached the disk
      Change c = changes[i];
      if (!c.truncate && !c.data.empty() && rng_() % 3 == 0) {
        // Torn: a random run of its bytes (from a random start, of random length) got written.
        const std::size_t from = rng_() % c.data.size();
        const std::size_t len = 1 + rng_() % (c.data.size() - from);
        Change part{false,
                    c.offset + from,
                    {c.data.begin() + static_cast<std::ptrdiff_t>(from),
                     c.data.begin() + static_cast<std::ptrdiff_t>(from + len)}};
        apply(image, part);
        ++torn_;
        continue;
      }
      apply(image, c);
    }
    f.durable = image;
    f.current = image;
    f.pending.clear();
  }
  handles_.clear();
}

void MemoryStorage::reboot() {
  if (!crashed_) crash(nullptr);
  crashed_ = false;
  crash_at_ = 0;
  handles_.clear();
}

ambience::Task<Opened> MemoryStorage::open(std::string_view name, bool create) {
  if (crashed_) co_return Opened::make_error(Outcome::io_error);
  const std::string n(name);
  if (files_.count(n) == 0) {
    if (!create) co_return Opened::make_error(Outcome::not_found);
    files_[n];
  }
  Opened r;
  r.alternatives.emplace<1>(++next_handle_);
  handles_[next_handle_] = n;
  co_return r;
}

ambience::Task<Data> MemoryStorage::read(std::uint64_t handle, std::uint64_t offset, std::uint32_t length) {
  if (crashed_) co_return Data::make_error(Outcome::io_error);
  FileState* f = file(handle);
  if (f == nullptr) co_return Data::make_error(Outcome::not_found);
  std::vector<std::uint8_t> out;
  if (offset < f->current.size()) {
    const std::size_t n = std::min<std::size_t>(length, f->current.size() - offset);
    out.assign(f->current.begin() + static_cast<std::ptrdiff_t>(offset),
               f->current.begin() + static_cast<std::ptrdiff_t>(offset + n));
  }
  Data r;
  r.alternatives.emplace<1>(std::move(out));
  co_return r;
}

ambience::Task<storage::Outcome> MemoryStorage::write(std::uint64_t handle, std::uint64_t offset,
                                                      std::span<const std::uint8_t> data) {
  if (crashed_) co_return Outcome::io_error;
  FileState* f = file(handle);
  if (f == nullptr) co_return Outcome::not_found;
  if (write_fault_ != Outcome::ok) co_return write_fault_;
  Change c{false, offset, {data.begin(), data.end()}};
  in_flight_file_ = handles_[handle];
  if (mutation(&c)) co_return Outcome::io_error;
  apply(f->current, c);
  f->pending.push_back(std::move(c));
  co_return Outcome::ok;
}

ambience::Task<storage::Outcome> MemoryStorage::sync(std::uint64_t handle) {
  if (crashed_) co_return Outcome::io_error;
  FileState* f = file(handle);
  if (f == nullptr) co_return Outcome::not_found;
  if (sync_fault_ != Outcome::ok) co_return sync_fault_;
  in_flight_file_.clear();
  if (mutation(nullptr)) co_return Outcome::io_error;
  f->durable = f->current;
  f->pending.clear();
  co_return Outcome::ok;
}

ambience::Task<storage::Outcome> MemoryStorage::truncate(std::uint64_t handle, std::uint64_t size) {
  if (crashed_) co_return Outcome::io_error;
  FileState* f = file(handle);
  if (f == nullptr) co_return Outcome::not_found;
  Change c{true, size, {}};
  in_flight_file_ = handles_[handle];
  if (mutation(&c)) co_return Outcome::io_error;
  apply(f->current, c);
  f->pending.push_back(std::move(c));
  co_return Outcome::ok;
}

ambience::Task<Length> MemoryStorage::size(std::uint64_t handle) {
  if (crashed_) co_return Length::make_error(Outcome::io_error);
  FileState* f = file(handle);
  if (f == nullptr) co_return Length::make_error(Outcome::not_found);
  Length r;
  r.alternatives.emplace<1>(f->current.size());
  co_return r;
}

ambience::Task<storage::Outcome> MemoryStorage::close(std::uint64_t handle) {
  if (handles_.erase(handle) == 0) co_return Outcome::not_found;
  co_return Outcome::ok;
}

ambience::Task<storage::Outcome> MemoryStorage::remove(std::string_view name) {
  if (crashed_) co_return Outcome::io_error;
  in_flight_file_.clear();
  if (mutation(nullptr)) co_return Outcome::io_error;
  co_return files_.erase(std::string(name)) == 0 ? Outcome::not_found : Outcome::ok;
}

ambience::Task<storage::Outcome> MemoryStorage::exists(std::string_view name) {
  if (crashed_) co_return Outcome::io_error;
  co_return files_.count(std::string(name)) != 0 ? Outcome::ok : Outcome::not_found;
}

}  // namespace camera_trap::database::testing
