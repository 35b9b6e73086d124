// The group side of MPU-isolated groups: what runs unprivileged inside a group's region. It owns
// the group end of the ring region, serves requests for the instances placed in the group and
// makes calls to other groups' and the kernel group's instances (through the kernel).
//
// Everything lives in the group's own region (the runtime, its services' state), so a restart is
// simply: the kernel zeroes the region and the entry function runs again.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <utility>

#include "kernel/arch/cortex_m/groups.hpp"
#include "kernel/arch/cortex_m/service.hpp"
#include "kernel/arch/cortex_m/syscalls.hpp"
#include "kernel/core/frame_allocator.hpp"
#include "kernel/core/scheduler.hpp"
#include "kernel/core/status.hpp"
#include "kernel/core/task.hpp"

namespace ambience::mcu {

class GroupRuntime {
 public:
  // Builds the runtime at the start of the group's state area and attaches to its ring region.
  static GroupRuntime& create(const GroupBoot* boot);

  const GroupBoot& boot() const { return *boot_; }

  // Bump allocation from the group's state area (never freed; the region is reset on restart).
  void* allocate(std::size_t bytes, std::size_t alignment);
  template <class T, class... Args>
  T* make(Args&&... args) {
    void* p = allocate(sizeof(T), alignof(T));
    return p == nullptr ? nullptr : new (p) T(std::forward<Args>(args)...);
  }

  // Gives the group its own kernel-core state, all in its region: this runtime's scheduler, a
  // frame arena of `arena_bytes` carved from the state area (coroutine frames and operator new)
  // and console output through the log system call. While the group runs, Scheduler::current(),
  // FrameAllocator::instance(), arch::wake() and console output use them (arch::core_context()),
  // so lidl coroutine services run unprivileged unchanged. False if the state area is too small.
  bool enable_core(std::size_t arena_bytes);
  // Same, with everything left in the state area as the arena (the plan's `memory =` of the
  // group's instances is what their coroutine frames and heap get).
  bool enable_core() { return enable_core(arena_left()); }
  std::size_t arena_left() const {
    const auto used = (reinterpret_cast<std::uintptr_t>(next_) + 15) & ~std::uintptr_t{15};
    const auto end = reinterpret_cast<std::uintptr_t>(end_);
    const std::size_t overhead = (sizeof(FrameAllocator) + 15) & ~std::size_t{15};
    return end > used + overhead ? (end - used - overhead) & ~std::size_t{15} : 0;
  }
  FrameAllocator* frames() const { return core_.frames; }
  Scheduler& scheduler() { return scheduler_; }

  // Runs `task` on this group's scheduler until it completes, serving incoming requests while it
  // waits. Needs enable_core(). Status::no_memory if the task got no frame.
  Status run(Task<void> task);
  // Runs this group's scheduler, serving incoming requests (and sleeping on the doorbell when
  // nothing is ready), until done(context) is true. Needs enable_core().
  void run_until(bool (*done)(void* context), void* context);

  // Places `instance` in this group: requests for it are served by `binding`.
  void serve(std::uint16_t instance, ServiceBinding binding);

  // Blocking call (serves incoming requests while it waits). Arguments are copied; results go to
  // `result` (caller-provided, in this group's region). Tries the kernel's direct-call fast path
  // first (arguments and result space in this group's region, callee waiting), else the ring.
  Status call(std::uint16_t instance, std::uint16_t method, const void* arg, std::uint32_t arg_len, void* result,
              std::uint32_t result_cap, std::uint32_t* result_len);
  // Same, but the argument is a buffer in this group's region passed by reference: shared
  // zero-copy (read-only) if it is MPU-shareable (power-of-two size >= 32, aligned to it),
  // copied otherwise.
  Status call_buffer(std::uint16_t instance, std::uint16_t method, const void* buffer, std::uint32_t len, void* result,
                     std::uint32_t result_cap, std::uint32_t* result_len);

  // An instance of this group is busy, too, while one of its coroutines (its start(), a task it
  // spawned) blocks in an outgoing call: requests for it that arrive meanwhile are held like
  // those for a binding that says it is busy. The group's client transports mark each blocking
  // call with the instance that makes it (kNoInstance: none of ours serves requests).
  class CallFrom {
   public:
    CallFrom(GroupRuntime& runtime, std::uint16_t caller);
    CallFrom(const CallFrom&) = delete;
    CallFrom& operator=(const CallFrom&) = delete;
    ~CallFrom();

   private:
    std::uint32_t* calls_ = nullptr;
  };

  // Non-blocking start of a call: would_block when all of this group's ring elements are in
  // flight (back-pressure). `handle` identifies it for finish().
  Status start(std::uint16_t instance, std::uint16_t method, const void* arg, std::uint32_t arg_len,
               std::int32_t* handle);
  // Waits for a started call; copies up to result_cap result bytes.
  Status finish(std::int32_t handle, void* result, std::uint32_t result_cap, std::uint32_t* result_len);

  // Serves what arrived, collects responses; false if the ring was empty. A request for a busy
  // instance (ServiceBinding::busy) is held, and served in arrival order once it is free.
  bool poll();
  // Sleeps until the kernel rings the doorbell (returns at once if something is pending); serves
  // direct calls the kernel hands it meanwhile (none while an instance is busy: they take the
  // ring, where they can be held).
  void wait();
  [[noreturn]] void serve_forever();

  void log(const char* text);

 private:
  explicit GroupRuntime(const GroupBoot* boot);
  Status start_call(std::uint16_t instance, std::uint16_t method, const void* arg, std::uint32_t arg_len,
                    bool by_reference, void* result, std::uint32_t result_cap, std::int32_t* handle);
  void serve_request(std::uint32_t index);
  bool serve_held();  // the held requests whose instance is free now; true if it served one
  bool any_busy() const;
  Status serve_direct(DirectSlot& slot);
  struct Local {
    std::uint16_t instance = kNoInstance;
    ServiceBinding binding;
    std::uint32_t calls_out = 0;  // its coroutines' blocking outgoing calls (CallFrom)
  };
  Local* find_local(std::uint16_t instance);
  static bool busy(const Local& l) {
    return l.calls_out != 0 || (l.binding.busy != nullptr && l.binding.busy(l.binding.self));
  }
  static constexpr std::uint32_t kMaxLocal = 4;

  const GroupBoot* boot_;
  Scheduler scheduler_;  // the ring's waiter hand-over needs one; this group's own
  arch::CoreContext core_{};
  Endpoint endpoint_;
  Local local_[kMaxLocal];
  bool done_[kMaxRingElements] = {};
  std::uint32_t held_[kMaxRingElements] = {};  // requests (element indices) for busy instances
  std::uint32_t held_count_ = 0;
  std::byte* next_;
  std::byte* end_;
};

}  // namespace ambience::mcu
