// ambience_pygroup: the group side of a hosted node's ring and arena protocol, for a group
// process that runs CPython (runtime/hosted/python/README.md).
//
// The supervisor starts a Python group like any other: the same arguments and inherited file
// descriptors as kernel/arch/hosted_linux's run_group (ring region, the kernel's arena
// read-only, the group's own arena, the node bell, then the arenas of its callers read-only).
// `Group(argv)` maps them and attaches the group's end of the ring. The asyncio loop is the
// process's loop: a waiter thread sleeps on the ring's doorbell (the ring's sleep protocol) and
// makes `fileno()` (an eventfd) readable when entries arrived; the loop then calls `poll()`,
// handles what it returns and `rearm()`s the waiter. Poll and rearm alternate strictly, so the
// ring's consumer side is only ever touched by one thread at a time.
//
// Requests come as (index, target, flags, call block bytes); borrowed arguments are read through
// `view(origin, offset, length)`: a read-only memoryview straight over the caller's arena mapping
// (zero copy). Calls out go through `call(target, procedure, block, flags)`; their replies come
// back from poll() too. Host only; pybind11 needs exceptions, so this glue has them.
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <signal.h>
#include <stddef.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "kernel/arch/hosted_linux/arena.hpp"
#include "kernel/arch/hosted_linux/node.hpp"
#include "kernel/arch/hosted_linux/shm.hpp"
#include "kernel/core/scheduler.hpp"
#include "kernel/core/task.hpp"
#include "runtime/hosted/payload.hpp"

namespace py = pybind11;
using namespace ambience;
using namespace ambience::hosted;

namespace {

constexpr int kRegionFd = 3, kKernelArenaFd = 4, kGroupArenaFd = 5, kBellFd = 6, kPeerArenaFd = 7;

struct NodeBell {
  std::atomic<std::uint32_t> word;
};

void notify_supervisor(void* ctx, ipc::Doorbell*) {
  auto* word = static_cast<std::atomic<std::uint32_t>*>(ctx);
  word->fetch_add(1, std::memory_order_release);
  arch::hosted::futex_wake_shared(word);
}

void futex_wait_shared(std::atomic<std::uint32_t>* word, std::uint32_t seen) {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAIT, seen, nullptr, nullptr, 0);
}

// A refused system call traps here first: the node log names it (the number, see
// <asm/unistd_64.h>), then the process dies of SIGSYS as with SECCOMP_RET_KILL_PROCESS, which the
// supervisor reports as a sandbox violation.
void on_refused_syscall(int, siginfo_t* info, void*) {
  char text[96];
  const int n = std::snprintf(text, sizeof text, "ambience python group: system call %d refused by the sandbox\n",
                              info->si_syscall);
  if (n > 0) (void)!::write(2, text, static_cast<std::size_t>(n));
  ::signal(SIGSYS, SIG_DFL);
  ::raise(SIGSYS);
}

// The seccomp allow-list of Python groups (README.md "Sandbox"): what CPython's asyncio loop,
// the allocator and this module's waiter thread need once everything is imported. File access
// fails with EACCES instead of killing (a lazy import or a traceback looking for its source
// line then raises in Python, which the handler's caller sees as an error status); anything else
// ends the process (on_refused_syscall), which the supervisor reports as a sandbox violation and restarts.
int install_python_sandbox() {
  static const int kAllowed[] = {
      SYS_futex,       SYS_clock_gettime, SYS_clock_nanosleep, SYS_nanosleep,
      SYS_sched_yield, SYS_getcpu,        SYS_write,           SYS_read,
      SYS_epoll_wait,  SYS_epoll_pwait,   SYS_epoll_ctl,       SYS_exit,
      SYS_exit_group,  SYS_rt_sigreturn,  SYS_rt_sigprocmask,  SYS_rt_sigaction,
      SYS_getpid,      SYS_gettid,        SYS_tgkill,          SYS_brk,
      SYS_mmap,        SYS_munmap,        SYS_mremap,          SYS_madvise,
      SYS_close,       SYS_getrandom,     SYS_sigaltstack,     SYS_writev,
  };
  static const int kRefused[] = {
      SYS_openat,     SYS_open,  SYS_stat,       SYS_lstat,    SYS_fstat,  SYS_newfstatat, SYS_statx,
      SYS_lseek,      SYS_ioctl, SYS_getdents64, SYS_readlink, SYS_getcwd, SYS_access,     SYS_faccessat,
#ifdef SYS_faccessat2
      SYS_faccessat2,  // what glibc's access() uses on newer kernels
#endif
#ifdef SYS_openat2
      SYS_openat2,
#endif
  };
  constexpr unsigned kA = sizeof(kAllowed) / sizeof(kAllowed[0]);
  constexpr unsigned kR = sizeof(kRefused) / sizeof(kRefused[0]);
  sock_filter filter[4 + 2 * kA + 2 * kR + 1];
  unsigned n = 0;
  filter[n++] = BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch));
  filter[n++] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
  filter[n++] = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
  filter[n++] = BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr));
  for (int nr : kAllowed) {
    filter[n++] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<unsigned>(nr), 0, 1);
    filter[n++] = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  }
  for (int nr : kRefused) {
    filter[n++] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<unsigned>(nr), 0, 1);
    filter[n++] = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EACCES & SECCOMP_RET_DATA));
  }
  filter[n++] = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP);
  sock_fprog prog{static_cast<unsigned short>(n), filter};
  struct sigaction sa {};
  sa.sa_sigaction = &on_refused_syscall;
  sa.sa_flags = SA_SIGINFO;
  if (::sigaction(SIGSYS, &sa, nullptr) != 0) return errno;
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return errno;
  // TSYNC: the waiter thread exists already and must be confined too.
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog) != 0) return errno;
  return 0;
}

class Group;

struct OutCall {
  std::uint64_t id = 0;
  std::uint32_t target = 0;
  std::uint16_t procedure = 0;
  std::uint8_t flags = 0;
  std::string block;
  Status status = Status::internal;
  std::string reply;
};

class Group {
 public:
  explicit Group(const std::vector<std::string>& args) {
    // args: --ambience-group name region_bytes kernel_elems group_elems payload kernel_arena_bytes
    //       group_arena_bytes sandbox spin_us generation yield peer_arenas
    if (args.size() < 13 || args[0] != "--ambience-group") throw py::value_error("not a group process command line");
    name_ = args[1];
    const std::size_t region_bytes = std::strtoull(args[2].c_str(), nullptr, 10);
    config_.kernel_elements = static_cast<std::uint32_t>(std::strtoul(args[3].c_str(), nullptr, 10));
    config_.group_elements = static_cast<std::uint32_t>(std::strtoul(args[4].c_str(), nullptr, 10));
    config_.payload_bytes = static_cast<std::uint32_t>(std::strtoul(args[5].c_str(), nullptr, 10));
    const std::size_t kernel_arena_bytes = std::strtoull(args[6].c_str(), nullptr, 10);
    const std::size_t group_arena_bytes = std::strtoull(args[7].c_str(), nullptr, 10);
    sandbox_ = std::atoi(args[8].c_str()) != 0;
    if (SharedMemory::map_fd(kRegionFd, region_bytes, true, region_) != Status::ok ||
        SharedMemory::map_fd(kKernelArenaFd, kernel_arena_bytes, false, kernel_arena_) != Status::ok ||
        SharedMemory::map_fd(kGroupArenaFd, group_arena_bytes, true, own_arena_) != Status::ok ||
        SharedMemory::map_fd(kBellFd, 4096, true, bell_) != Status::ok) {
      throw std::runtime_error("ambience group " + name_ + ": cannot map shared memory");
    }
    const std::string& peers = args[12];
    if (peers != "-") {
      int fd = kPeerArenaFd;
      for (const char* at = peers.c_str(); *at != 0; ++fd) {
        char* end = nullptr;
        const long group = std::strtol(at, &end, 10);
        if (end == at || *end != ':') throw py::value_error("bad peer arena list: " + peers);
        at = end + 1;
        const std::size_t bytes = std::strtoull(at, &end, 10);
        if (end == at) throw py::value_error("bad peer arena list: " + peers);
        at = *end == ',' ? end + 1 : end;
        auto memory = std::make_unique<SharedMemory>();
        if (SharedMemory::map_fd(fd, bytes, false, *memory) != Status::ok)
          throw std::runtime_error("ambience group " + name_ + ": cannot map the arena of group " +
                                   std::to_string(group));
        peer_groups_.push_back(static_cast<int>(group));
        peer_arenas_.push_back(std::move(memory));
      }
    }
    auto* bell = reinterpret_cast<NodeBell*>(bell_.data());
    if (channel_.attach(ipc::Side::group, region_.data(), region_.size(), config_, notify_supervisor, &bell->word) !=
        Status::ok) {
      throw std::runtime_error("ambience group " + name_ + ": region does not match its config");
    }
    ipc::RegionHeader header;
    std::memcpy(&header, region_.data(), sizeof header);
    generation_ = header.generation;
    arena_.init(own_arena_.data(), own_arena_.size());
    channel_.serve([](void* ctx, ipc::Channel&,
                      const ipc::Channel::Request& r) { static_cast<Group*>(ctx)->incoming_.push_back(r); },
                   this);
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) throw std::runtime_error("eventfd failed");
  }

  ~Group() { stop(); }

  void stop() {
    if (!waiter_.joinable()) return;
    {
      std::lock_guard<std::mutex> lock(lock_);
      stopping_ = true;
      armed_ = true;
    }
    cv_.notify_all();
    channel_.endpoint().my_doorbell()->seq.fetch_add(1);
    arch::hosted::futex_wake_shared(&channel_.endpoint().my_doorbell()->seq);
    waiter_.join();
  }

  const std::string& name() const { return name_; }
  std::uint32_t generation() const { return generation_; }
  bool sandbox_requested() const { return sandbox_; }
  int fileno() const { return wake_fd_; }
  std::uint32_t payload_capacity() const { return channel_.payload_capacity(); }

  // Returns once the thread runs: a thread's start-up makes system calls (rseq registration)
  // that the sandbox, installed right after, would refuse.
  void start_waiter() {
    if (waiter_.joinable()) return;
    armed_ = true;
    waiter_ = std::thread([this] {
      {
        std::lock_guard<std::mutex> lock(lock_);
        waiter_running_ = true;
      }
      cv_.notify_all();
      wait_loop();
    });
    std::unique_lock<std::mutex> lock(lock_);
    cv_.wait(lock, [this] { return waiter_running_; });
  }

  // Lets the waiter sleep again: the loop has handled everything poll() returned.
  void rearm() {
    {
      std::lock_guard<std::mutex> lock(lock_);
      armed_ = true;
    }
    cv_.notify_all();
  }

  // What arrived: ("request", index, target, flags, block) and ("reply", call id, status, bytes).
  py::list poll() {
    channel_.poll();
    pump();
    py::list out;
    for (const auto& r : incoming_) {
      if (r.index < held_.size()) held_[r.index] = SharedBuffer();  // the caller is done with our last reply there
      bool ok = false;
      const auto bytes = read_payload(channel_, r.index, r.header, kernel_arena(), ok);
      if (!ok) {
        (void)channel_.respond(r, Status::bad_message, 0);
        continue;
      }
      requests_.resize(std::max<std::size_t>(requests_.size(), r.index + 1));
      requests_[r.index] = r;
      // The call block is copied out of shared memory (the peer could change it while we read).
      out.append(py::make_tuple("request", r.index, r.header.target, r.header.flags,
                                py::bytes(reinterpret_cast<const char*>(bytes.data()), bytes.size())));
    }
    incoming_.clear();
    for (auto& c : done_) {
      out.append(py::make_tuple("reply", c->id, static_cast<int>(c->status), py::bytes(c->reply)));
    }
    done_.clear();
    pump();
    return out;
  }

  // Completed calls only, without reading the ring (safe while the waiter sleeps on it): a call
  // can end without a reply from the peer (no element, a reset ring).
  py::list completed() {
    pump();
    py::list out;
    for (auto& c : done_) {
      out.append(py::make_tuple("reply", c->id, static_cast<int>(c->status), py::bytes(c->reply)));
    }
    done_.clear();
    return out;
  }

  // Answers request `index` with `status` and (ok) the encoded result: inline, or in our arena.
  int respond(std::uint32_t index, int status, py::bytes payload) {
    if (index >= requests_.size() || !requests_[index]) throw py::value_error("no request at that index");
    const ipc::Channel::Request r = *requests_[index];
    requests_[index].reset();
    Status s = static_cast<Status>(status);
    std::uint32_t size = 0;
    if (s == Status::ok) {
      const std::string_view bytes = payload;
      WrittenPayload out;
      s = write_payload(channel_, r.index, std::as_bytes(std::span(bytes.data(), bytes.size())), &arena_, out);
      if (s == Status::ok) {
        if (out.buffer) {
          if (held_.size() <= r.index) held_.resize(r.index + 1);
          held_[r.index] = std::move(out.buffer);
        }
        channel_.header(r.index)->flags = out.flags;
        size = out.size;
      }
    }
    const Status sent = channel_.respond(r, s, size);
    pump();  // publishes the response (the channel's flush)
    return static_cast<int>(sent == Status::ok ? s : sent);
  }

  // Starts a call; its reply comes back from poll() as ("reply", id, status, bytes).
  std::uint64_t call(std::uint32_t target, std::uint16_t procedure, py::bytes block, std::uint8_t flags) {
    auto c = std::make_unique<OutCall>();
    c->id = ++next_call_;
    c->target = target;
    c->procedure = procedure;
    c->flags = flags;
    c->block = block;
    OutCall* raw = c.get();
    calls_.push_back(std::move(c));
    if (spawn(run_call(raw)) != Status::ok) {
      raw->status = Status::no_memory;
      finish(raw);
    }
    pump();
    return raw->id;
  }

  // Copies `data` into this group's arena (where the callee reads it in place); returns the
  // offset and a handle to release() once the call completed. In place (no copy, handle 0) when
  // the bytes already lie in the arena.
  py::tuple stage(py::buffer data) {
    const py::buffer_info info = data.request();
    const std::size_t bytes = static_cast<std::size_t>(info.size * info.itemsize);
    const auto* p = static_cast<const std::byte*>(info.ptr);
    if (bytes == 0) return py::make_tuple(0, 0);
    if (p >= arena_.base() && p + bytes <= arena_.base() + arena_.size()) {
      ++stats_in_place_;
      return py::make_tuple(static_cast<std::uint64_t>(p - arena_.base()), 0);
    }
    SharedBuffer b = arena_.allocate(bytes, 64);
    if (!b) throw std::runtime_error("no_memory: the group's arena is full");
    std::memcpy(b.data(), p, bytes);
    ++stats_copied_;
    const std::uint64_t handle = ++next_stage_;
    const std::uint64_t offset = b.ref().offset;
    staged_.emplace_back(handle, std::move(b));
    return py::make_tuple(offset, handle);
  }

  void release(std::uint64_t handle) {
    for (auto it = staged_.begin(); it != staged_.end(); ++it) {
      if (it->first == handle) {
        staged_.erase(it);
        return;
      }
    }
  }

  // A buffer of `bytes` in this group's arena, writable (e.g. a large argument built in place,
  // then passed without any copy): (memoryview, handle), freed by release(handle).
  py::tuple arena_buffer(std::size_t bytes) {
    SharedBuffer b = arena_.allocate(bytes, 64);
    if (!b) throw std::runtime_error("no_memory: the group's arena is full");
    std::byte* data = b.data();
    const std::uint64_t handle = ++next_stage_;
    staged_.emplace_back(handle, std::move(b));
    return py::make_tuple(py::memoryview::from_memory(data, static_cast<py::ssize_t>(bytes), false), handle);
  }

  // The borrowed bytes of an argument: `origin` 0 = the kernel's arena, g + 1 = group g's.
  // A read-only memoryview over the mapping itself; None if the reference does not fit.
  py::object view(int origin, std::uint64_t offset, std::uint64_t length) {
    std::span<const std::byte> arena;
    if (origin == 0) {
      arena = kernel_arena();
    } else {
      for (std::size_t i = 0; i < peer_groups_.size(); ++i) {
        if (peer_groups_[i] == origin - 1) arena = {peer_arenas_[i]->data(), peer_arenas_[i]->size()};
      }
    }
    if (arena.empty()) return py::none();
    bool ok = false;
    const auto bytes = resolve(arena.data(), arena.size(), BufferRef{offset, length}, ok);
    if (!ok) return py::none();
    return py::memoryview::from_memory(const_cast<std::byte*>(bytes.data()), static_cast<py::ssize_t>(bytes.size()),
                                       true);
  }

  // Where a buffer lies, for tests: ("kernel" | "group:<g>" | "own" | "private", offset).
  py::tuple locate(py::buffer data) const {
    const py::buffer_info info = data.request();
    const auto* p = static_cast<const std::byte*>(info.ptr);
    auto in = [p](const std::byte* base, std::size_t size) { return p >= base && p < base + size; };
    if (in(kernel_arena_.data(), kernel_arena_.size())) return py::make_tuple("kernel", p - kernel_arena_.data());
    for (std::size_t i = 0; i < peer_groups_.size(); ++i) {
      if (in(peer_arenas_[i]->data(), peer_arenas_[i]->size()))
        return py::make_tuple("group:" + std::to_string(peer_groups_[i]), p - peer_arenas_[i]->data());
    }
    if (in(arena_.base(), arena_.size())) return py::make_tuple("own", p - arena_.base());
    return py::make_tuple("private", 0);
  }

  py::dict stats() const {
    py::dict d;
    d["in_place"] = stats_in_place_;
    d["copied_in"] = stats_copied_;
    d["staged_live"] = staged_.size();
    return d;
  }

  int install_sandbox() { return install_python_sandbox(); }

 private:
  // Runs what the kernel scheduler has ready here (resumed calls, the channel's flush).
  static void pump() {
    for (int i = 0; i < 64 && Scheduler::current().run_ready() != 0; ++i) {
    }
  }

  std::span<const std::byte> kernel_arena() const { return {kernel_arena_.data(), kernel_arena_.size()}; }

  void wait_loop() {
    auto& e = channel_.endpoint();
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(lock_);
        cv_.wait(lock, [this] { return armed_; });
        if (stopping_) return;
      }
      std::uint32_t seq = 0;
      if (e.prepare_sleep(seq)) futex_wait_shared(&e.my_doorbell()->seq, seq);
      e.end_sleep();
      {
        std::lock_guard<std::mutex> lock(lock_);
        if (stopping_) return;
        armed_ = false;
      }
      const std::uint64_t one = 1;
      (void)!::write(wake_fd_, &one, sizeof one);
    }
  }

  void finish(OutCall* c) {
    for (auto it = calls_.begin(); it != calls_.end(); ++it) {
      if (it->get() == c) {
        done_.push_back(std::move(*it));
        calls_.erase(it);
        return;
      }
    }
  }

  Task<void> run_call(OutCall* c) {
    auto slot = co_await channel_.begin();
    if (!slot) {
      c->status = slot.status();
      finish(c);
      co_return;
    }
    const auto block = std::as_bytes(std::span(c->block.data(), c->block.size()));
    WrittenPayload sent;  // an arena copy of a large block stays alive until the reply arrived
    Status s = write_payload(channel_, slot.index(), block, &arena_, sent);
    if (s != Status::ok) {
      channel_.finish(slot);
      c->status = s;
      finish(c);
      co_return;
    }
    channel_.header(slot.index())->size = sent.size;
    const auto r =
        co_await channel_.call(slot, c->target, c->procedure, static_cast<std::uint8_t>(c->flags | sent.flags));
    s = r.status == Status::ok ? r.remote() : r.status;
    if (s == Status::ok) {
      bool ok = false;
      const auto bytes = read_payload(channel_, slot.index(), r.header, kernel_arena(), ok);
      if (ok) {
        c->reply.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
      } else {
        s = Status::bad_message;
      }
    }
    channel_.finish(slot);
    c->status = s;
    finish(c);
  }

  std::string name_;
  RingConfig config_;
  bool sandbox_ = true;
  std::uint32_t generation_ = 0;
  SharedMemory region_, kernel_arena_, own_arena_, bell_;
  std::vector<int> peer_groups_;
  std::vector<std::unique_ptr<SharedMemory>> peer_arenas_;
  ipc::Channel channel_;
  Arena arena_;
  int wake_fd_ = -1;
  std::thread waiter_;
  std::mutex lock_;
  std::condition_variable cv_;
  bool armed_ = false;
  bool stopping_ = false;
  bool waiter_running_ = false;
  std::vector<ipc::Channel::Request> incoming_;
  std::vector<std::optional<ipc::Channel::Request>> requests_;
  std::vector<SharedBuffer> held_;  // reply buffers by element index
  std::vector<std::unique_ptr<OutCall>> calls_, done_;
  std::uint64_t next_call_ = 0;
  std::deque<std::pair<std::uint64_t, SharedBuffer>> staged_;
  std::uint64_t next_stage_ = 0;
  std::uint64_t stats_in_place_ = 0, stats_copied_ = 0;
};

}  // namespace

PYBIND11_MODULE(ambience_pygroup, m) {
  m.doc() = "The group side of a hosted node's rings and arenas, for Python groups";
  m.attr("FLAG_ARENA_PAYLOAD") = kFlagArenaPayload;
  m.attr("FLAG_SHARED_CALL") = kFlagSharedCall;
  // The ring's statuses (kernel/core/status.hpp), which group.py's RingStatus must equal.
  py::dict status;
  const std::pair<const char*, Status> statuses[] = {
      {"ok", Status::ok},
      {"timeout", Status::timeout},
      {"peer_restarted", Status::peer_restarted},
      {"no_memory", Status::no_memory},
      {"bad_message", Status::bad_message},
      {"access_denied", Status::access_denied},
      {"unavailable", Status::unavailable},
      {"would_block", Status::would_block},
      {"cancelled", Status::cancelled},
      {"schema_mismatch", Status::schema_mismatch},
      {"not_found", Status::not_found},
      {"internal", Status::internal},
  };
  for (const auto& [name, value] : statuses) status[name] = static_cast<int>(value);
  m.attr("STATUS") = status;
  py::class_<Group>(m, "Group")
      .def(py::init<const std::vector<std::string>&>())
      .def_property_readonly("name", &Group::name)
      .def_property_readonly("generation", &Group::generation)
      .def_property_readonly("sandbox_requested", &Group::sandbox_requested)
      .def_property_readonly("payload_capacity", &Group::payload_capacity)
      .def("fileno", &Group::fileno)
      .def("start_waiter", &Group::start_waiter)
      .def("rearm", &Group::rearm)
      .def("poll", &Group::poll)
      .def("completed", &Group::completed)
      .def("respond", &Group::respond)
      .def("call", &Group::call)
      .def("stage", &Group::stage)
      .def("release", &Group::release)
      .def("arena_buffer", &Group::arena_buffer)
      .def("view", &Group::view)
      .def("locate", &Group::locate)
      .def("stats", &Group::stats)
      .def("install_sandbox", &Group::install_sandbox)
      .def("stop", &Group::stop);
}
