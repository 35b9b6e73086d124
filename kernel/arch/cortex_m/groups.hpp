// MPU-isolated groups on Cortex-M (ARMv7-M, PMSAv7): the kernel-side supervisor.
//
// The kernel (and the kernel group: kernelized services, forwarders, drivers) runs privileged in
// thread mode on MSP. Every other group runs unprivileged in thread mode on its own PSP stack,
// inside one MPU region holding its ring region, its services' state and its stack. The kernel
// enters a group with an SVC and gets control back when the group executes SVC (wait, yield,
// log, exit), when PendSV preempts it (a doorbell for another group, or its time slice ran out),
// or when it faults — then the supervisor reports the fault, fails the calls the group was
// serving with Status::peer_restarted and restarts it from a clean region.
//
// Calls between groups travel over kernel/ipc/ring.hpp regions (one per group, shared with the
// kernel): the kernel routes a request from the caller's ring to the callee's ring, copying small
// arguments and sharing well-aligned buffers zero-copy through a temporary read-only MPU region.
// Results are copied into the caller's result space. Calls to kernelized instances run the service
// directly in the kernel's context (also from interrupt handlers), without any context switch.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernel/arch/cortex_m/layout.hpp"
#include "kernel/arch/cortex_m/service.hpp"
#include "kernel/core/arch.hpp"
#include "kernel/core/status.hpp"
#include "kernel/ipc/ring.hpp"

namespace ambience::mcu {

// Group slots in the supervisor (RAM: ~0.7 KiB each). Images pick a variant of the library:
// :groups (6) or :groups_minimal (1, for the smallest nodes).
#ifndef AMBIENCE_MCU_MAX_GROUPS
#define AMBIENCE_MCU_MAX_GROUPS 6
#endif
constexpr std::uint32_t kMaxGroups = AMBIENCE_MCU_MAX_GROUPS;
constexpr std::uint32_t kMaxInstances = 16;
constexpr std::uint32_t kMaxRingElements = 8;  // per region, both partitions
constexpr std::uint16_t kNoInstance = 0xFFFF;

// Capabilities are per procedure: allow() takes a mask of the procedure ids a caller group may
// invoke on an instance (bit p = procedure p, as the deployment plan computes them).
constexpr std::uint64_t kAllProcedures = ~std::uint64_t{0};

// Where the kernel finds the procedure id of a call, for the capability check. By default it is
// the call's method (DirectCall::instance_method >> 16, ElementHeader::method). Calls made with
// `method` carry a message envelope instead, with the procedure id inside their argument bytes:
// a little-endian field of `width` (1, 2 or 4) bytes at `offset`. The kernel reads it from its
// own copy of the arguments (or the callee's, which the caller cannot write), never from memory
// the caller may still change. The runtime that defines the envelope tells the supervisor
// (Supervisor::set_procedure_field); the kernel knows nothing else about the format. width 0:
// no envelope, every call's procedure is its method.
struct ProcedureField {
  std::uint16_t method = 0;
  std::uint16_t offset = 0;
  std::uint8_t width = 0;
};

using Endpoint = ipc::BasicRingEndpoint<kMaxRingElements>;

// The PMSAv7 regions the supervisor programs. Only the running group's region is mapped (it is
// reloaded at every switch), so the number of groups is bounded by kMaxGroups, not by the MPU;
// a board needs at least kMpuRegionsNeeded regions. The switch loads regions 4..7 with one
// 8-word store through the RBAR/RASR alias registers (GroupContext::mpu).
constexpr unsigned kMpuFlashRegion = 0;      // all code and rodata: read-only + execute, for everyone
constexpr unsigned kMpuPublishedRegion = 1;  // the published core-context word: user read-only
constexpr unsigned kMpuGroupRegion = 4;      // the running group's region
constexpr unsigned kMpuDeviceRegion = 5;     // the running group's peripheral window, if any
constexpr unsigned kMpuGrantRegion0 = 6;     // read-only grants of zero-copy arguments: 6, 7
constexpr unsigned kMpuGrantRegions = 2;
constexpr unsigned kMpuRegionsNeeded = kMpuGrantRegion0 + kMpuGrantRegions;
static_assert(kMpuGroupRegion == 4 && kMpuRegionsNeeded == 8, "the switch code loads regions 4..7");

// The ring shape of every group region on a microcontroller (small: RAM is scarce).
constexpr ipc::RingConfig kGroupRing{4, 4, 64};
constexpr std::uint32_t kRingBytes = static_cast<std::uint32_t>(ipc::region_bytes(kGroupRing));

// What the kernel writes into a group's region before (re)starting it; the group's entry gets a
// pointer to it and builds everything else in its state area.
struct GroupBoot {
  std::byte* ring;
  std::uint32_t ring_bytes;
  std::byte* state;
  std::uint32_t state_bytes;
  std::uint32_t generation;  // counts restarts
  std::uint32_t group_id;
  // Written by the group (GroupRuntime::enable_core): its own scheduler, frame arena and console.
  // The kernel publishes this slot's address while the group runs (arch::core_context()).
  arch::CoreContext* core;
  std::uint32_t reserved;
};
constexpr std::uint32_t kBootBytes = 64;
static_assert(sizeof(GroupBoot) <= kBootBytes);

// A group's region, from its base: stack (at the bottom, so an overflow leaves the region and
// faults at once instead of overwriting the ring), ring region, boot block, service state.
constexpr std::uint32_t group_ring_offset(std::uint32_t stack_bytes) { return align_up(stack_bytes, 64); }
constexpr std::uint32_t group_needed_bytes(std::uint32_t stack_bytes, std::uint32_t state_bytes) {
  return group_ring_offset(stack_bytes) + align_up(kRingBytes, 64) + kBootBytes + align_up(state_bytes, 8);
}
constexpr RegionFit group_region(std::uint32_t stack_bytes, std::uint32_t state_bytes) {
  return fit_region(group_needed_bytes(stack_bytes, state_bytes));
}

// The stack the deployment compiler gives every user group it generates: the group runtime's
// serve and direct-call paths (a DirectSlot of 144 bytes lives on it while the group waits) plus
// the lidl dispatch and coroutine resumption of its services.
constexpr std::uint32_t kGeneratedGroupStackBytes = 1536;

// Declares a group's memory: one MPU region, sized and aligned at build time.
#define AMBIENCE_GROUP_MEMORY(var, stack_bytes, state_bytes)                \
  alignas(::ambience::mcu::group_region((stack_bytes), (state_bytes)).size) \
      std::byte var[::ambience::mcu::group_region((stack_bytes), (state_bytes)).size]

// Direct calls: the fast path for a synchronous call whose callee group is waiting (or whose
// instance is kernelized). The caller passes a DirectCall in its own region with kSysCall; the
// kernel copies it out, validates every pointer and length against the caller's region, checks
// the capability, copies the arguments into the DirectSlot the callee passed with its last
// kSysWait (validated against the callee's region) and switches straight to the callee; its
// kSysReply copies the result (length validated) into the caller's result space, completes the
// DirectCall and switches straight back. No ring element is used, so nothing is queued: when the
// callee is not waiting (busy, restarting, back-pressured) the kernel declines and the caller
// uses its ring instead.
struct DirectCall {
  std::uint32_t instance_method;  // instance | method << 16
  std::uint32_t arg;              // address in the caller's region (arg_len bytes)
  std::uint32_t arg_len;          // <= kGroupRing.payload_bytes
  std::uint32_t result;           // address in the caller's region (result_cap bytes)
  std::uint32_t result_cap;
  // Written by the kernel on completion.
  volatile std::uint32_t done;
  std::uint32_t status;
  std::uint32_t result_len;
};
struct DirectSlot {
  std::uint32_t instance_method;  // written by the kernel: instance | method << 16
  std::uint32_t arg_len;     // written by the kernel (<= payload)
  std::uint32_t result_cap;  // written by the kernel (<= payload)
  std::uint32_t result_len;  // written by the callee; validated by the kernel
  alignas(8) std::byte arg[kGroupRing.payload_bytes];  // 8-aligned: lidl messages are read in place
  alignas(8) std::byte result[kGroupRing.payload_bytes];
};
static_assert(offsetof(DirectSlot, arg) == 16 && alignof(DirectSlot) == 8);

using GroupEntry = void (*)(const GroupBoot* boot);

struct GroupConfig {
  const char* name;
  std::byte* memory;  // AMBIENCE_GROUP_MEMORY storage
  std::uint32_t stack_bytes;
  std::uint32_t state_bytes;
  GroupEntry entry;
  // Optional peripheral window the group may access unprivileged (a user-group driver).
  std::uintptr_t device_base = 0;
  unsigned device_size_log2 = 0;
  // Watchdog: a call the group serves for longer than this (ms) restarts it; 0 = no limit.
  std::uint32_t call_budget_ms = 0;
  // When the region comes from the plan's layout (a generated linker fragment) instead of
  // AMBIENCE_GROUP_MEMORY: its size (a power of two; 0 = computed from the budget), and the bytes
  // at its start that hold linker-placed objects (.ambience.group.<name>); the runtime area
  // (stack, ring, boot block, state) follows them. The whole region is zeroed at every (re)start:
  // the group's entry rebuilds its objects.
  std::uint32_t region_bytes = 0;
  std::uint32_t objects_bytes = 0;
};

// Saved state of a group's thread. Offsets are used by the switch code (supervisor.cc).
struct GroupContext {
  std::uint32_t psp;          // 0
  std::uint32_t r4_r11[8];    // 4
  std::uint32_t exc_return;   // 36
  std::uint32_t s16_s31[16];  // 40
  std::uint32_t mpu[8];       // 104: RBAR/RASR for MPU regions 4..7, loaded on every entry
};
static_assert(offsetof(GroupContext, mpu) == 104);

struct GroupStats {
  std::uint32_t entries = 0;     // times the kernel switched into the group
  std::uint32_t faults = 0;
  std::uint32_t restarts = 0;
  std::uint32_t preemptions = 0;
  std::uint32_t calls_routed = 0;  // requests this group made that reached their target
  std::uint32_t zero_copy = 0;     // requests to this group whose buffer was shared, not copied
  std::uint32_t copied = 0;        // requests to this group whose buffer argument was copied
  std::uint32_t direct = 0;        // calls this group made over the direct-call fast path
  std::uint32_t denied = 0;        // calls this group made that its capabilities did not allow
  std::uint32_t last_fault_address = 0;
  std::uint32_t last_fault_pc = 0;
};

class Supervisor {
 public:
  // Kernel-side completion of a call the kernel (or an interrupt) made.
  using Completion = void (*)(void* ctx, Status status, std::uint32_t result_len);

  static Supervisor& instance() {
    static Supervisor supervisor;
    return supervisor;
  }

  // Set-up, before start(). Returns the group id.
  int add_group(const GroupConfig& config);
  void bind_kernel_instance(std::uint16_t instance, ServiceBinding binding);
  void bind_group_instance(std::uint16_t instance, int group);
  // Capability: `caller_group` may invoke these procedures of `instance` (calls accumulate).
  // Anything else is refused with Status::access_denied and counted (GroupStats::denied).
  void allow(int caller_group, std::uint16_t instance, std::uint64_t procedures = kAllProcedures);
  // Where calls carrying a message envelope keep their procedure id (see ProcedureField).
  void set_procedure_field(ProcedureField field) { procedure_field_ = field; }

  // Enables the MPU, formats every group's region and makes each group ready to start.
  void start();

  // Kernel-side call (thread or interrupt context). Kernelized instances run right here;
  // calls to a user group return would_block when its ring partition is exhausted.
  // Inline so that an interrupt reaching a kernelized instance pays only for the call itself.
  Status submit(std::uint16_t instance, std::uint16_t method, const void* arg, std::uint32_t arg_len, void* result,
                std::uint32_t result_cap, Completion done, void* ctx) {
    if (instance < kMaxInstances && instances_[instance].bound && instances_[instance].group < 0) {
      // Kernelized: the service runs here, in the caller's context (thread or interrupt).
      ServiceCall call{method, static_cast<const std::byte*>(arg), arg_len, static_cast<std::byte*>(result), result_cap,
                       0};
      const ServiceBinding& b = instances_[instance].kernel;
      const Status st = b.fn(b.self, call);
      if (done != nullptr) done(ctx, st, call.result_len);
      return Status::ok;
    }
    return submit_to_group(instance, method, arg, arg_len, result, result_cap, done, ctx);
  }
  // Answers a call its kernel-group service deferred (ServiceCall::deferred): copies the result
  // into the caller's result space and wakes it. Ignored if the caller's group restarted since.
  void answer(const DeferredReply& reply, Status status, const std::byte* result, std::uint32_t result_len);

  // Blocking kernel-side call: submits, then runs the supervisor until it completes.
  Status call(std::uint16_t instance, std::uint16_t method, const void* arg, std::uint32_t arg_len, void* result,
              std::uint32_t result_cap, std::uint32_t* result_len);

  // One round: route everything the groups queued, then run each ready group until it waits,
  // yields, is preempted or faults. Returns false if there was nothing to do.
  bool run_once();
  // Runs rounds until `done()`; sleeps (WFI) when there is nothing to do.
  template <class Done>
  void run_until(Done done) {
    while (!done()) {
      if (!run_once()) idle();
    }
  }

  const GroupStats& stats(int group) const { return groups_[group].stats; }
  const char* name(int group) const { return groups_[group].config.name; }
  bool exited(int group) const { return groups_[group].state == State::exited; }
  int exit_code(int group) const { return groups_[group].exit_code; }
  int group_count() const { return static_cast<int>(group_count_); }
  RegionFit region(int group) const { return groups_[group].fit; }

  // Restarts a group on the kernel's decision (e.g. a watchdog); its callers get peer_restarted.
  void restart_group(int group, const char* why);

  // Prints each group's region: base, size, needed, waste.
  void print_layout() const;
  // Prints one line per group: `ambience: group <name> faults F restarts R calls C denied D direct X`.
  void print_stats() const;

  // Called by the fault hook (handler mode) for a fault in the running group.
  [[noreturn]] void group_faulted(std::uint32_t exception, std::uint32_t address, std::uint32_t pc);
  // Called by SysTick: preempts a group that ran for a whole slice.
  void tick();

 private:
  // calling: blocked in kSysCall until its direct call completes (or a request for it arrives).
  enum class State : std::uint8_t { unused, ready, running, waiting, calling, exited, dead };

  // The direct call a group is serving (kernel memory: nothing here is group-writable).
  struct Direct {
    bool active = false;
    std::uint8_t caller = 0;
    std::uint32_t caller_generation = 0;
    std::uint32_t descriptor = 0;  // caller's DirectCall (validated)
    std::uint32_t result = 0;      // caller's result space (validated)
    std::uint32_t result_cap = 0;
    std::uint32_t slot = 0;        // callee's DirectSlot holding the call (validated)
    std::uint32_t started_ms = 0;  // watchdog
  };

  struct Pending {
    bool used = false;
    bool kernel_caller = false;
    std::uint8_t caller = 0;        // caller group (if not kernel)
    std::uint16_t caller_index = 0; // caller's element
    std::uint32_t caller_generation = 0;
    std::byte* result = nullptr;    // where the result goes (caller-provided space)
    std::uint32_t result_cap = 0;
    std::int8_t grant = -1;         // MPU grant slot in the callee (0/1), -1 none
    Completion done = nullptr;
    void* ctx = nullptr;
    std::uint32_t started_ms = 0;   // when it reached the callee (watchdog)
  };

  struct Group {
    GroupConfig config{};
    RegionFit fit{};
    std::uint32_t runtime_offset = 0;  // align64(objects_bytes)
    std::uint8_t id = 0;               // index in groups_
    arch::CoreContext* const* core_slot = nullptr;  // &boot->core in the group's region
    GroupContext context{};
    Endpoint endpoint;
    State state = State::unused;
    std::uint32_t generation = 0;
    bool doorbell = false;  // rung while the group was running: do not let it sleep
    std::uint32_t slice_ticks = 0;
    int exit_code = 0;
    std::uint32_t fault_exception = 0;
    Pending pending[kMaxRingElements];
    // Requests the group sent that wait for room in their target's ring (back-pressure).
    std::uint16_t deferred[kMaxRingElements];
    std::uint8_t deferred_head = 0, deferred_count = 0;
    bool grant_used[kMpuGrantRegions] = {};
    std::uint32_t direct_slot = 0;  // DirectSlot of its current wait (validated), 0 none
    Direct direct;
    GroupStats stats;
  };

  Supervisor() = default;
  Status submit_to_group(std::uint16_t instance, std::uint16_t method, const void* arg, std::uint32_t arg_len,
                         void* result, std::uint32_t result_cap, Completion done, void* ctx);
  void restart(Group& g, const char* why);
  bool overdue(const Group& g) const;
  // After a push into g's ring: a corrupted ring (the group scribbled over it) restarts g.
  bool check_ring(Group& g);
  void prepare_region(Group& g);
  bool route_from(Group& g);
  bool drain_deferred(Group& g);
  // Returns would_block if the target has no free element (the request stays deferred).
  Status forward(Group& g, std::uint16_t index);
  void respond(Group& g, std::uint16_t index, Status status, std::uint32_t result_len);
  void complete(Group& callee, std::uint16_t index);
  void finish_pending(Group& callee, Pending& p, Status status, const std::byte* result, std::uint32_t result_len);
  void handle_svc(Group& g);
  void direct_call(Group& g, std::uint32_t descriptor);
  void direct_reply(Group& g, std::uint32_t status);
  [[gnu::noinline]] void direct_call_kernelized(Group& g, DirectCall* call_desc, const ServiceBinding& binding,
                                                std::uint32_t instance_method, std::uint32_t arg, std::uint32_t arg_len,
                                                std::uint32_t result, std::uint32_t result_cap, std::uint64_t allowed);
  [[gnu::always_inline]] inline void finish_direct(Group& callee, Status status, const std::byte* result,
                                                   std::uint32_t result_len);
  // A group asleep in kSysWait/kSysReply (frame r0 = result) with an optional direct slot.
  void sleep_in_wait(Group& g, std::uint32_t slot);
  bool in_region(const Group& g, std::uint32_t address, std::uint32_t bytes) const;
  // The procedure check, on argument bytes the caller can no longer change: true if the mask
  // `allowed` permits the call. reads_arguments(): whether it needs the bytes at all.
  bool reads_arguments(std::uint64_t allowed, std::uint16_t method) const {
    return allowed != kAllProcedures && procedure_field_.width != 0 && method == procedure_field_.method;
  }
  bool grant_allows(std::uint64_t allowed, std::uint16_t method, const std::byte* args, std::uint32_t arg_len) const;
  void refuse_direct(Group& caller, DirectCall* call_desc);
  int grant(Group& callee, std::uint32_t base, std::uint32_t bytes);
  void revoke(Group& callee, int slot);
  void idle();
  static void notify(void* ctx, ipc::Doorbell* bell);

  Group groups_[kMaxGroups];
  std::uint32_t group_count_ = 0;
  struct Binding {
    std::int8_t group = -1;  // -1: kernel group
    ServiceBinding kernel;
    bool bound = false;
  };
  Binding instances_[kMaxInstances];
  // Capabilities: procedure masks per caller group and instance (0: may not call it at all).
  std::uint64_t grants_[kMaxGroups][kMaxInstances] = {};
  ProcedureField procedure_field_;
  Group* running_ = nullptr;
  Group* handoff_ = nullptr;  // set by a direct call/reply: the group to switch to next
  arch::QueueLock lock_;
  bool started_ = false;
};

}  // namespace ambience::mcu
