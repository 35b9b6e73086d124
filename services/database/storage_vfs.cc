#include "services/database/storage_vfs.hpp"

#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <new>
#include <vector>

#include "services/database/fiber_bridge.hpp"

namespace camera_trap::database {
namespace {

using storage::Outcome;

// One call moves at most this much (storage's read limit is 4 MiB; pages are 4 KiB).
constexpr std::uint32_t kChunk = 1u << 20;

struct File {
  sqlite3_file base;  // first: SQLite sees a sqlite3_file*
  StorageVfs* vfs;
  std::uint64_t handle;  // storage handle (0 for an in-memory file)
  std::vector<std::uint8_t>* memory;  // temporary files only
  int lock;
};

StorageVfs* vfs_of(sqlite3_vfs* v) { return static_cast<StorageVfs*>(v->pAppData); }
File* file_of(sqlite3_file* f) { return reinterpret_cast<File*>(f); }

int fail(File* f, Outcome o, int io_error) {
  f->vfs->record_failure(o);
  return o == Outcome::no_space ? SQLITE_FULL : io_error;
}

// ---------------------------------------------------------------- in-memory files

int mem_close(sqlite3_file* pf) {
  File* f = file_of(pf);
  delete f->memory;
  f->~File();
  return SQLITE_OK;
}

int mem_read(sqlite3_file* pf, void* out, int amount, sqlite3_int64 offset) {
  const std::vector<std::uint8_t>& m = *file_of(pf)->memory;
  const std::size_t n = static_cast<std::size_t>(amount);
  const std::size_t at = static_cast<std::size_t>(offset);
  const std::size_t have = at < m.size() ? std::min(n, m.size() - at) : 0;
  if (have > 0) std::memcpy(out, m.data() + at, have);
  if (have < n) {
    std::memset(static_cast<std::uint8_t*>(out) + have, 0, n - have);
    return SQLITE_IOERR_SHORT_READ;
  }
  return SQLITE_OK;
}

int mem_write(sqlite3_file* pf, const void* data, int amount, sqlite3_int64 offset) {
  std::vector<std::uint8_t>& m = *file_of(pf)->memory;
  const std::size_t end = static_cast<std::size_t>(offset) + static_cast<std::size_t>(amount);
  if (m.size() < end) m.resize(end);
  std::memcpy(m.data() + offset, data, static_cast<std::size_t>(amount));
  return SQLITE_OK;
}

int mem_truncate(sqlite3_file* pf, sqlite3_int64 size) {
  std::vector<std::uint8_t>& m = *file_of(pf)->memory;
  if (static_cast<std::size_t>(size) < m.size()) m.resize(static_cast<std::size_t>(size));
  return SQLITE_OK;
}

int mem_size(sqlite3_file* pf, sqlite3_int64* size) {
  *size = static_cast<sqlite3_int64>(file_of(pf)->memory->size());
  return SQLITE_OK;
}

// ---------------------------------------------------------------- shared by both kinds

int no_sync(sqlite3_file*, int) { return SQLITE_OK; }
int set_lock(sqlite3_file* pf, int level) {
  file_of(pf)->lock = level;
  return SQLITE_OK;
}
// Exclusive locking mode, one connection: nobody else can hold a reserved lock.
int check_reserved(sqlite3_file*, int* out) {
  *out = 0;
  return SQLITE_OK;
}
int file_control(sqlite3_file*, int, void*) { return SQLITE_NOTFOUND; }
int sector_size(sqlite3_file*) { return 4096; }
// A write changes only the bytes written, also when cut short (a torn write at this layer cuts a
// write, it does not scramble its neighbours): SQLite then needs no padding around WAL frames.
int device_characteristics(sqlite3_file*) { return SQLITE_IOCAP_POWERSAFE_OVERWRITE; }

const sqlite3_io_methods kMemoryMethods = {
    1,        mem_close,      mem_read,     mem_write,   mem_truncate,           no_sync, mem_size, set_lock,
    set_lock, check_reserved, file_control, sector_size, device_characteristics,
};

// ---------------------------------------------------------------- storage files

int st_close(sqlite3_file* pf) {
  File* f = file_of(pf);
  const Outcome o = FiberBridge::block_on(f->vfs->storage().close(f->handle));
  f->~File();
  // A handle the storage forgot (it restarted) is closed anyway.
  return o == Outcome::ok || o == Outcome::not_found ? SQLITE_OK : SQLITE_IOERR_CLOSE;
}

int st_read(sqlite3_file* pf, void* out, int amount, sqlite3_int64 offset) {
  File* f = file_of(pf);
  auto* dest = static_cast<std::uint8_t*>(out);
  const std::size_t n = static_cast<std::size_t>(amount);
  std::size_t got = 0;
  while (got < n) {
    const std::uint32_t ask = static_cast<std::uint32_t>(std::min<std::size_t>(n - got, kChunk));
    ++f->vfs->mutable_stats().reads;
    storage::Data d =
        FiberBridge::block_on(f->vfs->storage().read(f->handle, static_cast<std::uint64_t>(offset) + got, ask));
    const std::vector<std::uint8_t>* bytes = d.as_data();
    if (bytes == nullptr) return fail(f, *d.as_error(), SQLITE_IOERR_READ);
    if (bytes->size() > ask) return fail(f, Outcome::io_error, SQLITE_IOERR_READ);
    if (!bytes->empty()) std::memcpy(dest + got, bytes->data(), bytes->size());
    got += bytes->size();
    if (bytes->size() < ask) break;  // end of file
  }
  if (got < n) {
    std::memset(dest + got, 0, n - got);
    return SQLITE_IOERR_SHORT_READ;
  }
  return SQLITE_OK;
}

int st_write(sqlite3_file* pf, const void* data, int amount, sqlite3_int64 offset) {
  File* f = file_of(pf);
  if (f->vfs->fenced()) return SQLITE_IOERR_WRITE;
  const auto* src = static_cast<const std::uint8_t*>(data);
  const std::size_t n = static_cast<std::size_t>(amount);
  for (std::size_t done = 0; done < n;) {
    const std::size_t len = std::min<std::size_t>(n - done, kChunk);
    ++f->vfs->mutable_stats().writes;
    const Outcome o = FiberBridge::block_on(f->vfs->storage().write(
        f->handle, static_cast<std::uint64_t>(offset) + done, std::span<const std::uint8_t>(src + done, len)));
    if (o != Outcome::ok) return fail(f, o, SQLITE_IOERR_WRITE);
    done += len;
  }
  return SQLITE_OK;
}

int st_truncate(sqlite3_file* pf, sqlite3_int64 size) {
  File* f = file_of(pf);
  if (f->vfs->fenced()) return SQLITE_IOERR_TRUNCATE;
  ++f->vfs->mutable_stats().truncates;
  const Outcome o = FiberBridge::block_on(f->vfs->storage().truncate(f->handle, static_cast<std::uint64_t>(size)));
  return o == Outcome::ok ? SQLITE_OK : fail(f, o, SQLITE_IOERR_TRUNCATE);
}

int st_sync(sqlite3_file* pf, int) {
  File* f = file_of(pf);
  if (f->vfs->fenced()) return SQLITE_IOERR_FSYNC;
  ++f->vfs->mutable_stats().syncs;
  const Outcome o = FiberBridge::block_on(f->vfs->storage().sync(f->handle));
  return o == Outcome::ok ? SQLITE_OK : fail(f, o, SQLITE_IOERR_FSYNC);
}

int st_size(sqlite3_file* pf, sqlite3_int64* size) {
  File* f = file_of(pf);
  storage::Length l = FiberBridge::block_on(f->vfs->storage().size(f->handle));
  if (l.as_size() == nullptr) return fail(f, *l.as_error(), SQLITE_IOERR_FSTAT);
  *size = static_cast<sqlite3_int64>(*l.as_size());
  return SQLITE_OK;
}

const sqlite3_io_methods kStorageMethods = {
    1,
    st_close,
    st_read,
    st_write,
    st_truncate,
    st_sync,
    st_size,
    set_lock,
    set_lock,
    check_reserved,
    file_control,
    sector_size,
    device_characteristics,
};

// ---------------------------------------------------------------- the VFS

int vfs_open(sqlite3_vfs* v, const char* name, sqlite3_file* pf, int flags, int* out_flags) {
  StorageVfs* vfs = vfs_of(v);
  pf->pMethods = nullptr;  // SQLite calls no method of a file whose open failed
  File* f = new (pf) File{{nullptr}, vfs, 0, nullptr, SQLITE_LOCK_NONE};
  const bool temporary = name == nullptr || (flags & SQLITE_OPEN_DELETEONCLOSE) != 0;
  if (temporary) {
    f->memory = new (std::nothrow) std::vector<std::uint8_t>();
    if (f->memory == nullptr) {
      f->~File();
      return SQLITE_NOMEM;
    }
    pf->pMethods = &kMemoryMethods;
  } else {
    ++vfs->mutable_stats().opens;
    const bool create = (flags & SQLITE_OPEN_CREATE) != 0;
    storage::Opened o = FiberBridge::block_on(vfs->storage().open(name, create));
    if (o.as_handle() == nullptr) {
      const Outcome why = *o.as_error();
      if (why != Outcome::not_found) vfs->record_failure(why);
      f->~File();
      return SQLITE_CANTOPEN;
    }
    f->handle = *o.as_handle();
    pf->pMethods = &kStorageMethods;
  }
  if (out_flags != nullptr) *out_flags = flags;
  return SQLITE_OK;
}

int vfs_delete(sqlite3_vfs* v, const char* name, int) {
  StorageVfs* vfs = vfs_of(v);
  if (vfs->fenced()) return SQLITE_IOERR_DELETE;
  ++vfs->mutable_stats().removes;
  const Outcome o = FiberBridge::block_on(vfs->storage().remove(name));
  if (o == Outcome::ok) return SQLITE_OK;
  if (o == Outcome::not_found) return SQLITE_IOERR_DELETE_NOENT;
  vfs->record_failure(o);
  return SQLITE_IOERR_DELETE;
}

// Like the unix VFS: SQLITE_ACCESS_EXISTS is true for a file with content (an empty WAL or
// journal left behind counts as absent); every file is readable and writable.
int vfs_access(sqlite3_vfs* v, const char* name, int, int* out) {
  StorageVfs* vfs = vfs_of(v);
  *out = 0;
  const Outcome e = FiberBridge::block_on(vfs->storage().exists(name));
  if (e == Outcome::not_found) return SQLITE_OK;
  if (e != Outcome::ok) {
    vfs->record_failure(e);
    return SQLITE_IOERR_ACCESS;
  }
  storage::Opened o = FiberBridge::block_on(vfs->storage().open(name, false));
  if (o.as_handle() == nullptr) {
    if (*o.as_error() == Outcome::not_found) return SQLITE_OK;
    vfs->record_failure(*o.as_error());
    return SQLITE_IOERR_ACCESS;
  }
  storage::Length l = FiberBridge::block_on(vfs->storage().size(*o.as_handle()));
  (void)FiberBridge::block_on(vfs->storage().close(*o.as_handle()));
  if (l.as_size() == nullptr) {
    vfs->record_failure(*l.as_error());
    return SQLITE_IOERR_ACCESS;
  }
  *out = *l.as_size() > 0 ? 1 : 0;
  return SQLITE_OK;
}

// Storage names are flat: the name SQLite gives is the name.
int vfs_full_pathname(sqlite3_vfs* v, const char* name, int n, char* out) {
  const std::size_t len = std::strlen(name);
  if (len + 1 > static_cast<std::size_t>(n) || std::strchr(name, '/') != nullptr ||
      static_cast<int>(len) > v->mxPathname) {
    return SQLITE_CANTOPEN;
  }
  std::memcpy(out, name, len + 1);
  return SQLITE_OK;
}

void* dl_open(sqlite3_vfs*, const char*) { return nullptr; }
void dl_error(sqlite3_vfs*, int n, char* out) {
  if (n > 0) std::snprintf(out, static_cast<std::size_t>(n), "no extensions in the storage VFS");
}
void (*dl_sym(sqlite3_vfs*, void*, const char*))(void) { return nullptr; }
void dl_close(sqlite3_vfs*, void*) {}

std::uint64_t now_ms() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000 + static_cast<std::uint64_t>(ts.tv_nsec) / 1000000;
}

// SQLite seeds its own generator from the default VFS once; this is only a fallback for when this
// VFS is asked (it must not open /dev/urandom: the group is sandboxed).
int randomness(sqlite3_vfs*, int n, char* out) {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  std::uint64_t x = static_cast<std::uint64_t>(ts.tv_nsec) ^ (static_cast<std::uint64_t>(ts.tv_sec) << 32);
  for (int i = 0; i < n; ++i) {
    x += 0x9e3779b97f4a7c15ull;  // splitmix64
    std::uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    out[i] = static_cast<char>(z ^ (z >> 31));
  }
  return n;
}

int sleep_us(sqlite3_vfs*, int us) {
  timespec ts{us / 1000000, static_cast<long>(us % 1000000) * 1000};
  nanosleep(&ts, nullptr);
  return us;
}

constexpr sqlite3_int64 kUnixEpochJulianMs = 210866760000000;

int current_time_int64(sqlite3_vfs*, sqlite3_int64* out) {
  *out = kUnixEpochJulianMs + static_cast<sqlite3_int64>(now_ms());
  return SQLITE_OK;
}
int current_time(sqlite3_vfs* v, double* out) {
  sqlite3_int64 ms;
  current_time_int64(v, &ms);
  *out = static_cast<double>(ms) / 86400000.0;
  return SQLITE_OK;
}
int last_error(sqlite3_vfs*, int, char*) { return 0; }

std::atomic<unsigned> g_next_vfs{0};

}  // namespace

StorageVfs::StorageVfs(storage::Storage& storage)
    : name_("ambience-storage-" + std::to_string(g_next_vfs.fetch_add(1))), storage_(storage) {
  sqlite3_initialize();
  vfs_.iVersion = 2;
  vfs_.szOsFile = sizeof(File);
  vfs_.mxPathname = 256;
  vfs_.zName = name_.c_str();
  vfs_.pAppData = this;
  vfs_.xOpen = vfs_open;
  vfs_.xDelete = vfs_delete;
  vfs_.xAccess = vfs_access;
  vfs_.xFullPathname = vfs_full_pathname;
  vfs_.xDlOpen = dl_open;
  vfs_.xDlError = dl_error;
  vfs_.xDlSym = dl_sym;
  vfs_.xDlClose = dl_close;
  vfs_.xRandomness = randomness;
  vfs_.xSleep = sleep_us;
  vfs_.xCurrentTime = current_time;
  vfs_.xGetLastError = last_error;
  vfs_.xCurrentTimeInt64 = current_time_int64;
  sqlite3_vfs_register(&vfs_, 0);
}

StorageVfs::~StorageVfs() { sqlite3_vfs_unregister(&vfs_); }

}  // namespace camera_trap::database
