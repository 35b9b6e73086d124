// The kernel-side supervisor of MPU-isolated groups: region set-up, the context switch, routing
// between rings, zero-copy grants, fault recovery. See groups.hpp and README.md.
#include <cstring>
#include <new>

#include "kernel/arch/cortex_m/groups.hpp"
#include "kernel/arch/cortex_m/syscalls.hpp"
#include "kernel/core/arch.hpp"
#include "kernel/core/console.hpp"
#include "platforms/boards/armv7m.hpp"
#include "platforms/boards/board.hpp"

namespace mpu = ambience::board::armv7m::mpu;
namespace scb = ambience::board::armv7m::scb;
using ambience::board::armv7m::reg32;

extern "C" {
// Used by the switch code below.
std::uint32_t ambience_mcu_kernel_sp = 0;
ambience::mcu::GroupContext* ambience_mcu_current = nullptr;
std::uint32_t ambience_mcu_enter_group(ambience::mcu::GroupContext* context);
[[noreturn]] void ambience_mcu_resume_kernel(std::uint32_t reason);
void ambience_mcu_group_returned();
// Code/read-only data bounds (platforms/boards/cortex_m.ld.in).
extern std::uint32_t __data_load;
}

namespace ambience::mcu {
namespace {

constexpr std::uint32_t kReasonSvc = 0, kReasonPreempted = 1, kReasonFault = 2;
constexpr std::uint32_t kSliceTicks = 10;  // 10 ms with the 1 ms SysTick
constexpr std::uint32_t kMaxRestarts = 50; // then the group stays dead (callers: unavailable)

// A region that is off: RBAR selects the region, RASR = 0.
constexpr std::uint32_t off_rbar(unsigned region) { return mpu::rbar(0, region); }

std::uint32_t now_ms() { return static_cast<std::uint32_t>(arch::now_us() / 1000); }

// The supervisor's critical section on the hot path: masks interrupts like arch::QueueLock
// (PRIMASK, nests), inline instead of two calls per group switch.
class IrqMask {
 public:
  IrqMask() { asm volatile("mrs %0, primask\n cpsid i" : "=r"(saved_)::"memory"); }
  ~IrqMask() { asm volatile("msr primask, %0" ::"r"(saved_) : "memory"); }
  IrqMask(const IrqMask&) = delete;
  IrqMask& operator=(const IrqMask&) = delete;

 private:
  std::uint32_t saved_;
};

unsigned ceil_log2(std::uint32_t v) {
  unsigned n = 5;
  while ((std::uint64_t{1} << n) < v) ++n;
  return n;
}

}  // namespace

int Supervisor::add_group(const GroupConfig& config) {
  if (started_ || group_count_ >= kMaxGroups) fatal("supervisor: too many groups (or already started)");
  Group& g = groups_[group_count_];
  g.config = config;
  g.runtime_offset = align_up(config.objects_bytes, 64);
  const std::uint32_t needed = g.runtime_offset + group_needed_bytes(config.stack_bytes, config.state_bytes);
  g.fit = fit_region(needed);
  if (config.region_bytes != 0) {
    const std::uint32_t size = config.region_bytes;
    if (size < 32 || (size & (size - 1)) != 0 || size < needed) {
      println("supervisor: group '", config.name, "': planned region of ", size, " bytes is not a ",
              "power of two >= 32 holding the ", needed, " bytes it needs");
      fatal("supervisor: bad planned region");
    }
    g.fit = RegionFit{needed, size, log2_exact(size), size - needed};
  }
  if (reinterpret_cast<std::uintptr_t>(config.memory) % g.fit.size != 0) {
    fatal("supervisor: group memory is not aligned to its MPU region size");
  }
  g.state = State::ready;
  g.id = static_cast<std::uint8_t>(group_count_);
  return static_cast<int>(group_count_++);
}

void Supervisor::bind_kernel_instance(std::uint16_t instance, ServiceBinding binding) {
  if (instance >= kMaxInstances) fatal("supervisor: instance id out of range");
  instances_[instance] = Binding{-1, binding, true};
}

void Supervisor::bind_group_instance(std::uint16_t instance, int group) {
  if (instance >= kMaxInstances || group < 0 || group >= static_cast<int>(group_count_)) {
    fatal("supervisor: bad instance binding");
  }
  instances_[instance] = Binding{static_cast<std::int8_t>(group), {}, true};
}

void Supervisor::allow(int caller_group, std::uint16_t instance, std::uint64_t procedures) {
  if (caller_group >= 0 && caller_group < static_cast<int>(kMaxGroups) && instance < kMaxInstances) {
    grants_[caller_group][instance] |= procedures;
  }
}

bool Supervisor::grant_allows(std::uint64_t allowed, std::uint16_t method, const std::byte* args,
                              std::uint32_t arg_len) const {
  if (allowed == kAllProcedures) return true;
  std::uint32_t procedure = method;
  if (reads_arguments(allowed, method)) {
    const ProcedureField& f = procedure_field_;
    // Too short to hold the field: the kernel cannot tell what the call is, so it is refused.
    if (f.width > 4 || arg_len < f.offset || arg_len - f.offset < f.width) return false;
    procedure = 0;
    for (unsigned i = 0; i < f.width; ++i) {
      procedure |= std::uint32_t{std::to_integer<std::uint8_t>(args[f.offset + i])} << (8 * i);
    }
  }
  return procedure < 64 && ((allowed >> procedure) & 1u) != 0;
}

// A direct call the capabilities refuse: answered at once (the callee never sees it), counted.
void Supervisor::refuse_direct(Group& caller, DirectCall* call_desc) {
  call_desc->result_len = 0;
  call_desc->status = static_cast<std::uint32_t>(Status::access_denied);
  call_desc->done = 1;
  reinterpret_cast<std::uint32_t*>(caller.context.psp)[0] = kDirectAccepted;
  ++caller.stats.denied;
}

void Supervisor::start() {
  // SVC and PendSV at the lowest priority, so interrupts preempt the switch, never the reverse.
  reg32(scb::kShpr3) = (reg32(scb::kShpr3) & 0x0000FFFFu) | (0xFFu << 16);
  // Region 0: the whole code/rodata area, read-only and executable for everybody. Everything
  // else (kernel RAM, peripherals, other groups) is privileged-only through the default map.
  // The board's MPU must have every region the switch code programs (boards.bzl mpu_regions;
  // the planner checks the same numbers before it isolates anything).
  if (((reg32(mpu::kType) >> 8) & 0xFFu) < kMpuRegionsNeeded) fatal("supervisor: the MPU has too few regions");
  const auto code_end = reinterpret_cast<std::uint32_t>(&__data_load);
  mpu::set_region(kMpuFlashRegion, mpu::rbar(0, kMpuFlashRegion),
                  mpu::rasr(ceil_log2(code_end), mpu::Access::read_only, mpu::Memory::normal, true));
  for (unsigned r = 1; r < kMpuRegionsNeeded; ++r) mpu::disable_region(r);
  // Region 1: the published CoreContext slot, readable (not writable) by the running group.
  mpu::set_region(kMpuPublishedRegion,
                  mpu::rbar(reinterpret_cast<std::uint32_t>(&ambience_published_core), kMpuPublishedRegion),
                  mpu::rasr(5, mpu::Access::privileged_rw_user_ro, mpu::Memory::normal, false));
  mpu::enable();
  arch::now_us();  // starts SysTick: time slices need it
  for (std::uint32_t i = 0; i < group_count_; ++i) prepare_region(groups_[i]);
  started_ = true;
}

// Zeroes the region, formats the ring, writes the boot block and a fresh thread context.
void Supervisor::prepare_region(Group& g) {
  std::byte* base = g.config.memory;
  std::memset(base, 0, g.fit.size);
  std::byte* ring = base + g.runtime_offset + group_ring_offset(g.config.stack_bytes);
  if (ipc::format_region(ring, kRingBytes, kGroupRing, g.generation) != Status::ok ||
      g.endpoint.attach(ipc::Side::kernel, ring, kRingBytes, kGroupRing, &Supervisor::notify, &g) != Status::ok) {
    fatal("supervisor: cannot format a group's ring region");
  }
  auto* boot = reinterpret_cast<GroupBoot*>(ring + align_up(kRingBytes, 64));
  std::byte* state = reinterpret_cast<std::byte*>(boot) + kBootBytes;
  *boot = GroupBoot{ring,         kRingBytes,
                    state,        align_up(g.config.state_bytes, 8),
                    g.generation, static_cast<std::uint32_t>(&g - groups_),
                    nullptr,      0};
  g.core_slot = &boot->core;
  // The stack ends where the ring begins; the first exception frame starts the entry.
  const std::uint32_t top = reinterpret_cast<std::uint32_t>(ring);
  auto* frame = reinterpret_cast<std::uint32_t*>((top & ~7u) - 32);
  frame[0] = reinterpret_cast<std::uint32_t>(boot);                          // r0
  frame[1] = frame[2] = frame[3] = frame[4] = 0;                             // r1-r3, r12
  frame[5] = reinterpret_cast<std::uint32_t>(&ambience_mcu_group_returned);  // lr
  frame[6] = reinterpret_cast<std::uint32_t>(g.config.entry) & ~1u;          // pc
  frame[7] = 1u << 24;                                                       // xPSR: Thumb
  g.context = GroupContext{};
  g.context.psp = reinterpret_cast<std::uint32_t>(frame);
  g.context.exc_return = 0xFFFFFFFD;  // thread mode, PSP, basic frame
  g.context.mpu[0] = mpu::rbar(reinterpret_cast<std::uint32_t>(base), kMpuGroupRegion);
  g.context.mpu[1] = mpu::rasr(g.fit.size_log2, mpu::Access::full, mpu::Memory::normal, false);
  if (g.config.device_size_log2 != 0) {
    g.context.mpu[2] = mpu::rbar(g.config.device_base, kMpuDeviceRegion);
    g.context.mpu[3] = mpu::rasr(g.config.device_size_log2, mpu::Access::full, mpu::Memory::device, false);
  } else {
    g.context.mpu[2] = off_rbar(kMpuDeviceRegion);
  }
  g.context.mpu[4] = off_rbar(kMpuGrantRegion0);
  g.context.mpu[6] = off_rbar(kMpuGrantRegion0 + 1);
  g.grant_used[0] = g.grant_used[1] = false;
  g.deferred_head = g.deferred_count = 0;
  g.doorbell = false;
  g.direct_slot = 0;
  g.direct.active = false;
  g.state = State::ready;
}

bool Supervisor::in_region(const Group& g, std::uint32_t address, std::uint32_t bytes) const {
  const auto base = reinterpret_cast<std::uint32_t>(g.config.memory);
  return address >= base && bytes <= g.fit.size && address - base <= g.fit.size - bytes;
}

int Supervisor::grant(Group& callee, std::uint32_t base, std::uint32_t bytes) {
  for (int slot = 0; slot < static_cast<int>(kMpuGrantRegions); ++slot) {
    if (callee.grant_used[slot]) continue;
    callee.grant_used[slot] = true;
    callee.context.mpu[4 + 2 * slot] = mpu::rbar(base, kMpuGrantRegion0 + slot);
    callee.context.mpu[5 + 2 * slot] =
        mpu::rasr(log2_exact(bytes), mpu::Access::privileged_rw_user_ro, mpu::Memory::normal, false);
    return slot;
  }
  return -1;
}

void Supervisor::revoke(Group& callee, int slot) {
  if (slot < 0) return;
  callee.grant_used[slot] = false;
  callee.context.mpu[4 + 2 * slot] = off_rbar(kMpuGrantRegion0 + slot);
  callee.context.mpu[5 + 2 * slot] = 0;
}

void Supervisor::notify(void* ctx, ipc::Doorbell*) {
  auto* g = static_cast<Group*>(ctx);
  g->doorbell = true;
  // A group blocked in a direct call wakes too: it serves its ring while the call completes.
  if (g->state == State::waiting || g->state == State::calling) g->state = State::ready;
  Supervisor& s = instance();
  // Another group holds the CPU: preempt it so the kernel can schedule this one.
  if (s.running_ != nullptr && s.running_ != g) scb::pend_pendsv();
}

void Supervisor::respond(Group& g, std::uint16_t index, Status status, std::uint32_t result_len) {
  ipc::ElementHeader* h = g.endpoint.header(index);
  h->status = static_cast<std::uint8_t>(status);
  h->size = result_len;
  if (g.endpoint.push(ipc::EntryKind::response, index) == Status::ok) {
    g.endpoint.flush();
  } else {
    check_ring(g);
  }
}

bool Supervisor::check_ring(Group& g) {
  if (!g.endpoint.corrupted()) return true;
  println("*** group '", g.config.name, "' corrupted its ring: ", g.endpoint.fault());
  restart(g, "ring corrupted");
  return false;
}

bool Supervisor::overdue(const Group& g) const {
  if (g.config.call_budget_ms == 0) return false;
  const std::uint32_t now = now_ms();
  if (g.direct.active && now - g.direct.started_ms > g.config.call_budget_ms) return true;
  for (const Pending& p : g.pending) {
    if (p.used && now - p.started_ms > g.config.call_budget_ms) return true;
  }
  return false;
}

Status Supervisor::submit_to_group(std::uint16_t instance, std::uint16_t method, const void* arg, std::uint32_t arg_len,
                                   void* result, std::uint32_t result_cap, Completion done, void* ctx) {
  if (instance >= kMaxInstances || !instances_[instance].bound) return Status::not_found;
  const Binding& b = instances_[instance];
  Group& callee = groups_[b.group];
  arch::LockGuard guard(lock_);
  if (callee.state == State::dead || callee.state == State::exited) return Status::unavailable;
  if (arg_len > kGroupRing.payload_bytes) return Status::no_memory;
  const std::int32_t k = callee.endpoint.try_acquire();
  if (k < 0) return Status::would_block;  // back-pressure: the callee's ring is full
  ipc::ElementHeader* h = callee.endpoint.header(k);
  *h = ipc::ElementHeader{static_cast<std::uint32_t>(k), instance, method, 0, 0, arg_len, {0, 0, 0, result_cap}};
  copy_bytes(callee.endpoint.payload(k), arg, arg_len);
  Pending& p = callee.pending[k];
  p = Pending{true,
              true,
              0,
              0,
              0,
              static_cast<std::byte*>(result),
              result_cap,
              -1,
              done,
              ctx,
              callee.config.call_budget_ms != 0 ? now_ms() : 0};
  if (callee.endpoint.push(ipc::EntryKind::request, k) != Status::ok) {
    p.used = false;
    check_ring(callee);  // restarts the group: this call never reached it
    return Status::peer_restarted;
  }
  callee.endpoint.flush();
  if (callee.state == State::waiting || callee.state == State::calling) {
    callee.state = State::ready;
    if (running_ != nullptr && running_ != &callee) scb::pend_pendsv();
  }
  return Status::ok;
}

namespace {
struct SyncCall {
  bool done = false;
  Status status = Status::internal;
  std::uint32_t len = 0;
};
}  // namespace

Status Supervisor::call(std::uint16_t instance, std::uint16_t method, const void* arg, std::uint32_t arg_len,
                        void* result, std::uint32_t result_cap, std::uint32_t* result_len) {
  SyncCall sync;
  auto complete = [](void* ctx, Status st, std::uint32_t len) {
    auto* s = static_cast<SyncCall*>(ctx);
    s->status = st;
    s->len = len;
    s->done = true;
  };
  Status st;
  while ((st = submit(instance, method, arg, arg_len, result, result_cap, complete, &sync)) == Status::would_block) {
    if (!run_once()) idle();
  }
  if (st != Status::ok) return st;
  run_until([&] { return sync.done; });
  if (result_len != nullptr) *result_len = sync.len;
  return sync.status;
}

void Supervisor::answer(const DeferredReply& reply, Status status, const std::byte* result, std::uint32_t result_len) {
  if (reply.group < 0 || static_cast<std::uint32_t>(reply.group) >= group_count_) return;
  Group& caller = groups_[reply.group];
  if (caller.generation != reply.generation || caller.state == State::dead) return;  // restarted
  const std::uint32_t n = result_len < reply.result_cap ? result_len : reply.result_cap;
  if (n != 0 && result != nullptr) copy_bytes(reply.result, result, n);
  if (reply.direct != nullptr) {
    auto* d = static_cast<DirectCall*>(reply.direct);
    d->result_len = n;
    d->status = static_cast<std::uint32_t>(status);
    d->done = 1;
    if (caller.state == State::waiting || caller.state == State::calling) caller.state = State::ready;
    return;
  }
  respond(caller, reply.index, status, n);
}

void Supervisor::finish_pending(Group& callee, Pending& p, Status status, const std::byte* result,
                                std::uint32_t result_len) {
  revoke(callee, p.grant);
  const std::uint32_t n = result_len < p.result_cap ? result_len : p.result_cap;
  if (p.kernel_caller) {
    if (n != 0 && result != nullptr) copy_bytes(p.result, result, n);
    p.used = false;
    if (p.done != nullptr) p.done(p.ctx, status, n);
    return;
  }
  p.used = false;
  Group& caller = groups_[p.caller];
  if (caller.generation != p.caller_generation || caller.state == State::dead) return;  // restarted
  if (n != 0 && result != nullptr) copy_bytes(p.result, result, n);
  respond(caller, p.caller_index, status, n);
}

// A response from `callee` for the kernel-partition element `index`.
void Supervisor::complete(Group& callee, std::uint16_t index) {
  ipc::ElementHeader h;
  Pending& p = callee.pending[index];
  if (callee.endpoint.read_header(index, h) != Status::ok || !p.used) {
    restart(callee, "bad response");
    return;
  }
  finish_pending(callee, p, static_cast<Status>(h.status), callee.endpoint.payload(index), h.size);
  callee.endpoint.release(index);
}

Status Supervisor::forward(Group& g, std::uint16_t index) {
  ipc::ElementHeader h;
  if (g.endpoint.read_header(index, h) != Status::ok) return Status::bad_message;
  if (h.target >= kMaxInstances || !instances_[h.target].bound) {
    respond(g, index, Status::not_found, 0);
    return Status::ok;
  }
  const int gid = static_cast<int>(&g - groups_);
  const std::uint64_t allowed = grants_[gid][h.target];
  // The procedure is checked on a copy of the arguments the caller cannot write any more (the
  // kernel's, or the callee's element) unless it is the method, which `h` holds already.
  const bool check_copy = reads_arguments(allowed, h.method);
  if (allowed == 0 || (!check_copy && !grant_allows(allowed, h.method, nullptr, 0))) {
    ++g.stats.denied;
    respond(g, index, Status::access_denied, 0);
    return Status::ok;
  }
  // Arguments: inline in the element, or a buffer by reference that must lie in the caller's
  // own region (the kernel never reads or shares memory on a group's word alone).
  const std::byte* arg = g.endpoint.payload(index);
  std::uint32_t arg_len = h.size;
  const bool by_reference = (h.flags & kFlagBufferArg) != 0;
  if (by_reference) {
    if (!in_region(g, h.aux[0], h.aux[1])) {
      respond(g, index, Status::access_denied, 0);
      return Status::ok;
    }
    arg = reinterpret_cast<const std::byte*>(h.aux[0]);
    arg_len = h.aux[1];
  }
  if (arg_len > kGroupRing.payload_bytes && check_copy && instances_[h.target].group >= 0) {
    // A buffer the callee would read in place while the caller can still rewrite it: its
    // procedure cannot be checked once and for all, and it is too large to copy.
    ++g.stats.denied;
    respond(g, index, Status::access_denied, 0);
    return Status::ok;
  }
  // Results: into the caller's result space (checked), else inline in its element.
  std::byte* result = g.endpoint.payload(index);
  std::uint32_t result_cap = kGroupRing.payload_bytes;
  if (h.aux[3] != 0) {
    if (!in_region(g, h.aux[2], h.aux[3])) {
      respond(g, index, Status::access_denied, 0);
      return Status::ok;
    }
    result = reinterpret_cast<std::byte*>(h.aux[2]);
    result_cap = h.aux[3];
  }
  const Binding& b = instances_[h.target];
  if (b.group < 0) {
    // Kernelized instance: runs now, reads the caller's buffer in place, writes its result space.
    std::byte args_copy[kGroupRing.payload_bytes];
    if (!by_reference) {  // the element doubles as the inline result space: copy arguments first
      copy_bytes(args_copy, arg, arg_len);
      arg = args_copy;
    }
    // A buffer by reference is checked in place: no group runs until this call returns.
    if (check_copy && !grant_allows(allowed, h.method, arg, arg_len)) {
      ++g.stats.denied;
      respond(g, index, Status::access_denied, 0);
      return Status::ok;
    }
    ServiceCall call{h.method, arg, arg_len, result, result_cap, 0};
    call.reply = DeferredReply{static_cast<std::int16_t>(&g - groups_), index, g.generation, result, result_cap};
    const Status st = b.kernel.fn(b.kernel.self, call);
    ++g.stats.calls_routed;
    if (call.deferred) return Status::ok;  // answered later, through answer()
    respond(g, index, st, call.result_len < result_cap ? call.result_len : result_cap);
    return Status::ok;
  }
  Group& callee = groups_[b.group];
  if (callee.state == State::dead || callee.state == State::exited) {
    respond(g, index, Status::unavailable, 0);
    return Status::ok;
  }
  const std::int32_t k = callee.endpoint.try_acquire();
  if (k < 0) return Status::would_block;
  ipc::ElementHeader* out = callee.endpoint.header(k);
  *out = ipc::ElementHeader{static_cast<std::uint32_t>(k),
                            h.target,
                            h.method,
                            0,
                            0,
                            0,
                            {0, 0, 0, result_cap < kGroupRing.payload_bytes ? result_cap : kGroupRing.payload_bytes}};
  int slot = -1;
  if (by_reference && !check_copy && mpu_shareable(h.aux[0], h.aux[1]) &&
      (slot = grant(callee, h.aux[0], h.aux[1])) >= 0) {
    out->flags = kFlagBufferArg;  // zero-copy: the callee reads the caller's buffer, read-only
    out->aux[0] = h.aux[0];
    out->aux[1] = h.aux[1];
    ++callee.stats.zero_copy;
  } else if (arg_len <= kGroupRing.payload_bytes) {
    std::byte* copy = callee.endpoint.payload(k);
    copy_bytes(copy, arg, arg_len);
    if (check_copy && !grant_allows(allowed, h.method, copy, arg_len)) {
      std::memset(copy, 0, arg_len);  // the callee never gets a refused request, not even its bytes
      callee.endpoint.release(k);
      ++g.stats.denied;
      respond(g, index, Status::access_denied, 0);
      return Status::ok;
    }
    out->size = arg_len;
    if (by_reference) ++callee.stats.copied;
  } else {
    callee.endpoint.release(k);
    respond(g, index, Status::no_memory, 0);  // too large to copy and not shareable
    return Status::ok;
  }
  callee.pending[k] = Pending{true,
                              false,
                              static_cast<std::uint8_t>(gid),
                              index,
                              g.generation,
                              result,
                              result_cap,
                              static_cast<std::int8_t>(slot),
                              nullptr,
                              nullptr,
                              callee.config.call_budget_ms != 0 ? now_ms() : 0};
  if (callee.endpoint.push(ipc::EntryKind::request, k) != Status::ok) {
    // The callee's ring is corrupted: restarting it answers this call with peer_restarted.
    check_ring(callee);
    return Status::ok;
  }
  callee.endpoint.flush();
  if (callee.state == State::waiting || callee.state == State::calling) callee.state = State::ready;
  ++g.stats.calls_routed;
  return Status::ok;
}

bool Supervisor::drain_deferred(Group& g) {
  bool progress = false;
  while (g.deferred_count != 0) {
    const std::uint16_t index = g.deferred[g.deferred_head];
    const Status st = forward(g, index);
    if (st == Status::would_block) break;
    g.deferred_head = (g.deferred_head + 1) % kMaxRingElements;
    --g.deferred_count;
    progress = true;
    if (st != Status::ok) {
      restart(g, "malformed request");
      return true;
    }
  }
  return progress;
}

bool Supervisor::route_from(Group& g) {
  if (g.state == State::dead || g.state == State::unused) return false;
  // The common case is an empty ring: one load, no cursor store.
  if (!g.endpoint.has_incoming()) return g.deferred_count != 0 && drain_deferred(g);
  ipc::Entry entries[kMaxRingElements];
  const std::size_t n = g.endpoint.poll(entries);
  if (g.endpoint.corrupted()) {
    restart(g, g.endpoint.fault());
    return true;
  }
  for (std::size_t i = 0; i < n; ++i) {
    const auto index = static_cast<std::uint16_t>(entries[i].index);
    if (entries[i].kind == ipc::EntryKind::request) {
      if (g.deferred_count == 0) {
        const Status st = forward(g, index);
        if (st == Status::ok) continue;
        if (st != Status::would_block) {
          restart(g, "malformed request");
          return true;
        }
      }
      g.deferred[(g.deferred_head + g.deferred_count) % kMaxRingElements] = index;
      ++g.deferred_count;
    } else {
      complete(g, index);
    }
  }
  if (g.deferred_count != 0) drain_deferred(g);
  return n != 0;
}

void Supervisor::restart(Group& g, const char* why) {
  println("*** group '", g.config.name, "' restarting: ", why);
  ++g.generation;
  ++g.stats.restarts;
  // Every call the group was serving fails: callers get an error, never a hang.
  for (std::uint32_t k = 0; k < kMaxRingElements; ++k) {
    if (g.pending[k].used) finish_pending(g, g.pending[k], Status::peer_restarted, nullptr, 0);
  }
  if (g.direct.active) finish_direct(g, Status::peer_restarted, nullptr, 0);
  g.direct_slot = 0;
  if (g.stats.restarts > kMaxRestarts) {
    println("*** group '", g.config.name, "' keeps failing: stopped");
    g.state = State::dead;
    return;
  }
  prepare_region(g);
}

void Supervisor::restart_group(int group, const char* why) {
  arch::LockGuard guard(lock_);
  restart(groups_[group], why);
}

void Supervisor::sleep_in_wait(Group& g, std::uint32_t slot) {
  auto* frame = reinterpret_cast<std::uint32_t*>(g.context.psp);
  frame[0] = kWaitWoken;
  // The slot lives in the group's region (its wait() frame); checked here, used only while the
  // group stays asleep in this very SVC.
  g.direct_slot = (slot % 4 == 0 && in_region(g, slot, sizeof(DirectSlot))) ? slot : 0;
  // A doorbell rung while it ran (an interrupt's request) means there is work already.
  g.state = g.doorbell ? State::ready : State::waiting;
}

void Supervisor::handle_svc(Group& g) {
  auto* frame = reinterpret_cast<std::uint32_t*>(g.context.psp);
  const std::uint32_t number = frame[0];
  switch (number) {
    case kSysCall: direct_call(g, frame[1]); break;
    case kSysReply: direct_reply(g, frame[1]); break;
    case kSysWait: sleep_in_wait(g, frame[1]); break;
    case kSysYield: g.state = State::ready; break;
    case kSysLog: {
      const std::uint32_t text = frame[1], len = frame[2];
      const auto code_end = reinterpret_cast<std::uint32_t>(&__data_load);
      if (in_region(g, text, len) || (len <= code_end && text <= code_end - len)) {
        arch::console_write(reinterpret_cast<const char*>(text), len);
        frame[0] = 0;
      } else {
        frame[0] = static_cast<std::uint32_t>(Status::access_denied);
      }
      g.state = State::ready;
      break;
    }
    case kSysExit:
      g.exit_code = static_cast<int>(frame[1]);
      g.state = State::exited;
      g.direct_slot = 0;
      if (g.direct.active) finish_direct(g, Status::unavailable, nullptr, 0);
      break;
    default:
      frame[0] = static_cast<std::uint32_t>(Status::not_found);
      g.state = State::ready;
      break;
  }
}

// kSysCall: the caller's DirectCall is copied out of its region first, then every address and
// length is checked against the caller's region before the kernel touches it. Anything but the
// common case is declined and goes over the rings (which report not_found, access_denied, ...).
void Supervisor::direct_call(Group& g, std::uint32_t descriptor) {
  auto* frame = reinterpret_cast<std::uint32_t*>(g.context.psp);
  frame[0] = kDirectDeclined;
  g.state = State::ready;
  handoff_ = &g;  // declined or done at once: the caller continues without a scheduler round
  if (descriptor % 4 != 0 || !in_region(g, descriptor, sizeof(DirectCall))) return;
  const auto* shared = reinterpret_cast<const DirectCall*>(descriptor);
  const std::uint32_t instance_method = shared->instance_method, arg = shared->arg, arg_len = shared->arg_len,
                      result = shared->result, result_cap = shared->result_cap;
  const std::uint32_t instance = instance_method & 0xFFFF;
  if (instance >= kMaxInstances || !instances_[instance].bound) return;
  const int gid = g.id;
  if (arg_len > kGroupRing.payload_bytes || (arg_len != 0 && !in_region(g, arg, arg_len))) return;
  if (result_cap != 0 && !in_region(g, result, result_cap)) return;
  auto* call_desc = const_cast<DirectCall*>(shared);
  const std::uint64_t allowed = grants_[gid][instance];
  const auto method = static_cast<std::uint16_t>(instance_method >> 16);
  const bool check_copy = reads_arguments(allowed, method);
  if (allowed == 0 || (!check_copy && !grant_allows(allowed, method, nullptr, 0))) {
    refuse_direct(g, call_desc);
    return;
  }
  const Binding& b = instances_[instance];
  if (b.group < 0) {
    direct_call_kernelized(g, call_desc, b.kernel, instance_method, arg, arg_len, result, result_cap,
                           check_copy ? allowed : kAllProcedures);
    return;
  }
  Group& callee = groups_[b.group];
  // Only a callee asleep in its wait with a slot and nothing else to do takes a direct call;
  // a busy one gets it through its ring (queued, with back-pressure).
  if (callee.state != State::waiting || callee.direct_slot == 0 || callee.direct.active || &callee == &g) return;
  auto* slot = reinterpret_cast<DirectSlot*>(callee.direct_slot);
  const std::uint32_t cap = result_cap < kGroupRing.payload_bytes ? result_cap : kGroupRing.payload_bytes;
  slot->instance_method = instance_method;
  slot->arg_len = arg_len;
  slot->result_cap = cap;
  copy_bytes(slot->arg, reinterpret_cast<const void*>(arg), arg_len);
  // The procedure in an envelope: checked on the callee's copy (asleep; the caller cannot write it).
  if (check_copy && !grant_allows(allowed, method, slot->arg, arg_len)) {
    std::memset(slot->arg, 0, arg_len);  // the callee never gets a refused request, not even its bytes
    refuse_direct(g, call_desc);
    return;
  }
  Direct& d = callee.direct;
  d.active = true;
  d.caller = static_cast<std::uint8_t>(gid);
  d.caller_generation = g.generation;
  d.descriptor = descriptor;
  d.result = result;
  d.result_cap = cap;
  d.slot = callee.direct_slot;
  d.started_ms = callee.config.call_budget_ms != 0 ? now_ms() : 0;
  reinterpret_cast<std::uint32_t*>(callee.context.psp)[0] = kWaitDirectCall;
  callee.direct_slot = 0;  // in use until its kSysReply
  callee.state = State::ready;
  frame[0] = kDirectAccepted;
  g.state = State::calling;
  ++g.stats.direct;
  ++g.stats.calls_routed;
  handoff_ = &callee;
}

// A direct call to a kernelized instance: runs here, in the kernel's context.
void Supervisor::direct_call_kernelized(Group& g, DirectCall* call_desc, const ServiceBinding& binding,
                                        std::uint32_t instance_method, std::uint32_t arg, std::uint32_t arg_len,
                                        std::uint32_t result, std::uint32_t result_cap, std::uint64_t allowed) {
  // Arguments are copied first: the result space may overlap them (and the check reads the copy).
  std::byte args[kGroupRing.payload_bytes];
  copy_bytes(args, reinterpret_cast<const void*>(arg), arg_len);
  if (!grant_allows(allowed, static_cast<std::uint16_t>(instance_method >> 16), args, arg_len)) {
    refuse_direct(g, call_desc);
    return;
  }
  ServiceCall call{static_cast<std::uint16_t>(instance_method >> 16),
                   args,
                   arg_len,
                   reinterpret_cast<std::byte*>(result),
                   result_cap,
                   0};
  call.reply = DeferredReply{static_cast<std::int16_t>(&g - groups_), 0,          g.generation,
                             reinterpret_cast<std::byte*>(result),    result_cap, call_desc};
  const Status st = binding.fn(binding.self, call);
  if (call.deferred) {  // answered later, through answer(): the group waits on call_desc->done
    reinterpret_cast<std::uint32_t*>(g.context.psp)[0] = kDirectAccepted;
    ++g.stats.direct;
    ++g.stats.calls_routed;
    return;
  }
  call_desc->result_len = call.result_len < result_cap ? call.result_len : result_cap;
  call_desc->status = static_cast<std::uint32_t>(st);
  call_desc->done = 1;
  reinterpret_cast<std::uint32_t*>(g.context.psp)[0] = kDirectAccepted;
  ++g.stats.direct;
  ++g.stats.calls_routed;
}

// kSysReply: the result length comes from the callee's memory: checked before use.
void Supervisor::direct_reply(Group& g, std::uint32_t status) {
  std::uint32_t slot_address = 0;  // a reply without a call: a plain wait without a slot
  if (g.direct.active) {
    slot_address = g.direct.slot;
    const auto* slot = reinterpret_cast<const DirectSlot*>(slot_address);
    const std::uint32_t n = slot->result_len;  // read once
    if (n > g.direct.result_cap) {
      restart(g, "direct reply longer than the caller's result space");  // fails the call
      return;
    }
    finish_direct(g, static_cast<Status>(status & 0xFF), slot->result, n);
  }
  // kSysReply waits like kSysWait, in the same slot (validated when it was armed).
  reinterpret_cast<std::uint32_t*>(g.context.psp)[0] = kWaitWoken;
  g.direct_slot = slot_address;
  g.state = g.doorbell ? State::ready : State::waiting;
}

// Completes the direct call `callee` serves: result into the caller's (validated) result space,
// status into its DirectCall, and the caller runs next if it is still blocked in kSysCall.
void Supervisor::finish_direct(Group& callee, Status status, const std::byte* result, std::uint32_t n) {
  Direct& d = callee.direct;
  d.active = false;
  Group& caller = groups_[d.caller];
  if (caller.generation != d.caller_generation || caller.state == State::dead || caller.state == State::exited) {
    return;  // the caller was restarted meanwhile: its region is not what it was
  }
  if (n != 0 && result != nullptr) copy_bytes(reinterpret_cast<void*>(d.result), result, n);
  auto* call_desc = reinterpret_cast<DirectCall*>(d.descriptor);
  call_desc->result_len = result != nullptr ? n : 0;
  call_desc->status = static_cast<std::uint32_t>(status);
  call_desc->done = 1;
  if (caller.state == State::calling) {
    caller.state = State::ready;
    handoff_ = &caller;
  } else {
    // It was woken meanwhile to serve its ring and now waits for `done`: wake it again.
    caller.doorbell = true;
    if (caller.state == State::waiting) caller.state = State::ready;
  }
}

bool Supervisor::run_once() {
  bool progress = false;
  for (std::uint32_t i = 0; i < group_count_; ++i) {
    IrqMask mask;
    progress |= route_from(groups_[i]);
  }
  for (std::uint32_t i = 0; i < group_count_; ++i) {
    Group* next = &groups_[i];
    std::uint32_t slice_ticks = 0;
    handoff_ = nullptr;
    // A direct call or reply names the group to run next (handoff_): it is entered at once,
    // without a scheduler round. The chain shares one time slice, so it cannot starve the rest.
    while (next != nullptr && next->state == State::ready) {
      Group& g = *next;
      progress = true;
      // The doorbell is cleared when the group will look at its ring next. A group entered to
      // serve a direct call stays inside its wait: a doorbell rung meanwhile must survive until
      // its kSysReply, which then wakes it instead of letting it sleep on a non-empty ring.
      if (!g.direct.active) g.doorbell = false;
      g.slice_ticks = slice_ticks;
      g.state = State::running;
      running_ = &g;
      ++g.stats.entries;
      ambience_published_core.slot = g.core_slot;  // Scheduler::current() etc. of this group
      const std::uint32_t reason = ambience_mcu_enter_group(&g.context);
      running_ = nullptr;
      IrqMask mask;
      slice_ticks = g.slice_ticks;
      next = nullptr;
      if (reason == kReasonSvc) {
        // The direct-call SVCs first: they are the IPC fast path.
        const auto* frame = reinterpret_cast<const std::uint32_t*>(g.context.psp);
        if (frame[0] == kSysReply) {
          direct_reply(g, frame[1]);
        } else if (frame[0] == kSysCall) {
          direct_call(g, frame[1]);
        } else {
          handle_svc(g);
        }
        next = handoff_;
      } else if (reason == kReasonPreempted) {
        ++g.stats.preemptions;
        g.state = State::ready;
        if (overdue(g)) restart(g, "watchdog: a call exceeded its time budget");
      } else {
        ++g.stats.faults;
        restart(g, "fault");
      }
      handoff_ = nullptr;
      // Route what it queued on its ring; most switches (direct calls) leave it empty.
      if (g.deferred_count != 0 || g.endpoint.has_incoming()) route_from(g);
    }
  }
  return progress;
}

void Supervisor::idle() {
  const std::uint32_t epoch = arch::wake_epoch();
  arch::idle_wait(arch::now_us() + 1000, epoch);
}

void Supervisor::tick() {
  if (running_ != nullptr && ++running_->slice_ticks >= kSliceTicks) scb::pend_pendsv();
}

void Supervisor::group_faulted(std::uint32_t exception, std::uint32_t address, std::uint32_t pc) {
  Group& g = *running_;
  g.stats.last_fault_address = address;
  g.stats.last_fault_pc = pc;
  g.fault_exception = exception;
  static const char* const kNames[] = {"?", "?", "?", "HardFault", "MemManage", "BusFault", "UsageFault"};
  println("*** group '", g.config.name, "' faulted: ", exception < 7 ? kNames[exception] : "?",
          " address=", Hex{address}, " pc=", Hex{pc});
  ambience_mcu_resume_kernel(kReasonFault);
}

void Supervisor::print_stats() const {
  for (std::uint32_t i = 0; i < group_count_; ++i) {
    const GroupStats& st = groups_[i].stats;
    println("ambience: group ", groups_[i].config.name, " faults ", st.faults, " restarts ", st.restarts, " calls ",
            st.calls_routed, " denied ", st.denied, " direct ", st.direct);
  }
}

void Supervisor::print_layout() const {
  std::uint32_t waste = 0;
  for (std::uint32_t i = 0; i < group_count_; ++i) {
    const Group& g = groups_[i];
    println("layout group=", g.config.name, " base=", Hex{reinterpret_cast<std::uint32_t>(g.config.memory)},
            " size=", g.fit.size, " needed=", g.fit.needed, " waste=", g.fit.waste);
    waste += g.fit.waste;
  }
  println("layout total_waste=", waste);
}

}  // namespace ambience::mcu

// ---- hooks the board and the arch layer call ----------------------------------------------

extern "C" void ambience_fault_hook(const ambience::board::FaultInfo& info) {
  // A fault in a group's thread (thread mode, PSP) while a group runs: recover. Anything else is
  // a kernel bug: stop, as the board's default hook does.
  if (ambience_mcu_current != nullptr && (info.exc_return & 0xC) == 0xC) {
    reg32(scb::kCfsr) = info.cfsr;  // clear the sticky status (write 1 to clear)
    reg32(scb::kHfsr) = info.hfsr;
    std::uint32_t address = 0;
    if (info.cfsr & (1u << 7)) address = info.mmfar;        // MMARVALID
    else if (info.cfsr & (1u << 15)) address = info.bfar;   // BFARVALID
    ambience::mcu::Supervisor::instance().group_faulted(info.exception, address, info.frame->pc);
  }
  ambience::board::exit(99);
}

extern "C" void ambience_tick_hook() { ambience::mcu::Supervisor::instance().tick(); }

// A group whose entry function returned: exit(0).
extern "C" void ambience_mcu_group_returned() { ambience::mcu::sys::exit(0); }

// The switch. GroupContext offsets: psp 0, r4-r11 4, exc_return 36, s16-s31 40, mpu 104.
asm(R"(
.syntax unified
.thumb
.text

.global ambience_mcu_enter_group
.type ambience_mcu_enter_group,%function
.thumb_func
ambience_mcu_enter_group:
  svc #255
  bx lr
.size ambience_mcu_enter_group, .-ambience_mcu_enter_group

.global SVC_Handler
.type SVC_Handler,%function
.thumb_func
SVC_Handler:
  tst lr, #4
  bne 1f
  ldr r0, [sp]                  @ the kernel's r0: the GroupContext to enter
  push {r4-r11, lr}
  vpush {s16-s31}
  ldr r1, =ambience_mcu_kernel_sp
  str sp, [r1]
  ldr r1, =ambience_mcu_current
  str r0, [r1]
  add r1, r0, #104
  ldmia r1, {r4-r11}
  ldr r1, =0xE000ED9C
  stmia r1, {r4-r11}            @ MPU regions 4..7: RBAR/RASR pairs through the alias registers
  ldr r1, [r0]
  msr psp, r1
  add r1, r0, #4
  ldmia r1!, {r4-r11}
  ldr lr, [r1], #4
  vldmia r1, {s16-s31}
  movs r1, #1
  msr control, r1               @ thread mode unprivileged
  dsb
  isb
  bx lr
1:
  movs r0, #0                   @ reason: the group called the kernel
  b ambience_mcu_save_group
.size SVC_Handler, .-SVC_Handler

.global PendSV_Handler
.type PendSV_Handler,%function
.thumb_func
PendSV_Handler:
  tst lr, #4
  it eq
  bxeq lr                       @ the kernel was running: nothing to preempt
  movs r0, #1                   @ reason: preempted
  b ambience_mcu_save_group
.size PendSV_Handler, .-PendSV_Handler

.type ambience_mcu_save_group,%function
.thumb_func
ambience_mcu_save_group:
  ldr r1, =ambience_mcu_current
  ldr r1, [r1]
  mrs r2, psp
  str r2, [r1]
  add r2, r1, #4
  stmia r2!, {r4-r11}
  str lr, [r2], #4
  vstmia r2, {s16-s31}
  b ambience_mcu_resume_kernel
.size ambience_mcu_save_group, .-ambience_mcu_save_group

.global ambience_mcu_resume_kernel
.type ambience_mcu_resume_kernel,%function
.thumb_func
ambience_mcu_resume_kernel:     @ r0 = reason; returns from the kernel's SVC #255
  vmov.f32 s0, s0               @ settles any lazily stacked FP state of the group first
  movs r1, #0
  msr control, r1               @ privileged again
  ldr r1, =ambience_mcu_current
  movs r2, #0
  str r2, [r1]
  ldr r1, =ambience_mcu_kernel_sp
  ldr sp, [r1]
  vpop {s16-s31}
  pop {r4-r11, lr}
  str r0, [sp]                  @ the kernel's stacked r0: the reason
  dsb
  isb
  bx lr
.size ambience_mcu_resume_kernel, .-ambience_mcu_resume_kernel
.pool
)");
