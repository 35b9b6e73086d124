// The kernel core's arch layer on Cortex-M (ARMv7E-M, thread mode on MSP for the kernel): SysTick
// time base, WFI when idle, PRIMASK critical sections, fiber switch, console and exit via the board.
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>

#include "kernel/core/arch.hpp"
#include "kernel/core/frame_allocator.hpp"
#include "kernel/core/job.hpp"
#include "kernel/core/status.hpp"
#include "platforms/boards/board.hpp"

extern "C" void ambience_fiber_start();

// Published by the group supervisor on every switch into a group (kernel/arch/cortex_m/
// supervisor.cc): the address of the running group's CoreContext pointer, which lies in the
// group's own region, and the tick count. Its own 32-byte MPU region (1) is privileged
// read-write, unprivileged read-only: group code finds its context here but cannot redirect it.
ambience::arch::PublishedCore ambience_published_core{};

namespace ambience {

namespace arch {
namespace {

volatile std::uint32_t& reg(std::uintptr_t a) { return *reinterpret_cast<volatile std::uint32_t*>(a); }
constexpr std::uintptr_t kSystCsr = 0xE000E010, kSystRvr = 0xE000E014, kSystCvr = 0xE000E018;
constexpr std::uint32_t kTickUs = 1000;

volatile std::uint64_t& g_ticks = ambience_published_core.ticks;
volatile std::uint32_t g_wake = 0;
bool g_clock_started = false;

void start_clock() {
  const std::uint32_t reload = board::cpu_hz() / (1000000u / kTickUs) - 1;
  reg(kSystRvr) = reload;
  reg(kSystCvr) = 0;
  reg(kSystCsr) = 0x7;  // processor clock, interrupt, enable
  g_clock_started = true;
}

}  // namespace

std::uint64_t now_us() {
  // A group may read the published tick count, not SysTick (ms resolution in groups).
  if (core_context() != nullptr) return ambience_published_core.ticks * kTickUs;
  if (!g_clock_started) start_clock();
  // Read ticks and the down-counter consistently: retry if a tick happened in between.
  std::uint64_t ticks;
  std::uint32_t cvr;
  do {
    ticks = g_ticks;
    cvr = reg(kSystCvr);
  } while (ticks != g_ticks);
  const std::uint32_t reload = reg(kSystRvr) + 1;
  const std::uint64_t sub_us = static_cast<std::uint64_t>(reload - cvr) * kTickUs / reload;
  return ticks * kTickUs + sub_us;
}

CoreContext* core_context() {
  std::uint32_t ipsr, control;
  asm volatile("mrs %0, ipsr" : "=r"(ipsr));
  asm volatile("mrs %0, control" : "=r"(control));
  // Handler mode (interrupts, the supervisor's faults) and privileged threads are the kernel.
  if (ipsr != 0 || (control & 1u) == 0) return nullptr;
  CoreContext* const* slot = ambience_published_core.slot;
  return slot != nullptr ? *slot : nullptr;
}

std::uint32_t wake_epoch() {
  if (CoreContext* c = core_context()) return c->wake;
  return g_wake;
}
void wake() {
  if (CoreContext* c = core_context()) {
    c->wake = c->wake + 1;
    return;
  }
  g_wake = g_wake + 1;
}

void idle_wait(std::uint64_t deadline_us, std::uint32_t epoch) {
  // A group sleeps on its doorbell (GroupRuntime::wait), not here: a spurious return.
  if (core_context() != nullptr) return;
  if (!g_clock_started) start_clock();
  // Interrupts masked between the check and WFI: a pending interrupt still ends WFI, so no
  // wake-up can slip in between (the ARMv7-M idiom).
  asm volatile("cpsid i" ::: "memory");
  if (g_wake == epoch && now_us() < deadline_us) asm volatile("dsb\n wfi" ::: "memory");
  asm volatile("cpsie i" ::: "memory");
}

void wait_on(std::atomic<std::uint32_t>&, std::uint32_t) { fatal("blocking wait on a microcontroller"); }
void wake_all(std::atomic<std::uint32_t>&) {}

void console_write(const char* data, std::size_t size) {
  if (CoreContext* c = core_context(); c != nullptr && c->console_write != nullptr) {
    c->console_write(data, size);  // a group: the UART is the kernel's, so a system call
    return;
  }
  board::console_write(data, size);
}
void exit(int status) { board::exit(status); }

void QueueLock::lock() {
  std::uint32_t primask;
  asm volatile("mrs %0, primask\n cpsid i" : "=r"(primask)::"memory");
  saved_primask_ = primask;
}

void QueueLock::unlock() { asm volatile("msr primask, %0" ::"r"(saved_primask_) : "memory"); }

// Frame built for ambience_context_switch: s16-s31, then r4-r11, then the return address.
void* prepare_stack(void* stack_top, void (*entry)(void*), void* arg) {
  auto top = reinterpret_cast<std::uintptr_t>(stack_top) & ~std::uintptr_t{7};
  auto* sp = reinterpret_cast<std::uint32_t*>(top) - (16 + 9);
  for (int i = 0; i < 16; ++i) sp[i] = 0;                        // s16-s31
  sp[16] = reinterpret_cast<std::uint32_t>(entry);               // r4
  sp[17] = reinterpret_cast<std::uint32_t>(arg);                 // r5
  for (int i = 18; i < 24; ++i) sp[i] = 0;                       // r6-r11
  sp[24] = reinterpret_cast<std::uint32_t>(&ambience_fiber_start);  // pc (Thumb bit set by linker)
  return sp;
}

}  // namespace arch
}  // namespace ambience

// Called on every tick; the group supervisor (supervisor.cc) overrides it to preempt a group
// that used up its time slice.
extern "C" __attribute__((weak)) void ambience_tick_hook() {}

extern "C" void SysTick_Handler() {
  ambience::arch::g_ticks = ambience::arch::g_ticks + 1;
  ambience_tick_hook();
}

// AAPCS callee-saved: r4-r11 and (hard float) s16-s31.
asm(R"(
.syntax unified
.thumb
.text
.global ambience_context_switch
.type ambience_context_switch,%function
.thumb_func
ambience_context_switch:
  push {r4-r11, lr}
  vpush {s16-s31}
  str sp, [r0]
  mov sp, r1
  vpop {s16-s31}
  pop {r4-r11, pc}
.size ambience_context_switch, .-ambience_context_switch

.global ambience_fiber_start
.type ambience_fiber_start,%function
.thumb_func
ambience_fiber_start:
  mov r0, r5
  blx r4
  udf #0
.size ambience_fiber_start, .-ambience_fiber_start
)");

// The heap. The kernel and its kernel group use newlib's malloc (kernel RAM). An MPU-isolated
// group cannot touch that, so while a group runs, operator new serves from the group's own frame
// arena (in its region): lidl services' std::string and friends work unchanged. Each block
// carries its size in an 8-byte header, because unsized delete must be able to free it.
namespace {

constexpr std::size_t kHeapHeader = 8;

void* allocate_heap(std::size_t bytes) {
  if (ambience::arch::CoreContext* c = ambience::arch::core_context(); c != nullptr && c->frames != nullptr) {
    auto* block = static_cast<std::byte*>(c->frames->allocate(bytes + kHeapHeader));
    if (block == nullptr) return nullptr;
    *reinterpret_cast<std::size_t*>(block) = bytes + kHeapHeader;
    return block + kHeapHeader;
  }
  return std::malloc(bytes == 0 ? 1 : bytes);
}

void free_heap(void* p) {
  if (p == nullptr) return;
  if (ambience::arch::CoreContext* c = ambience::arch::core_context();
      c != nullptr && c->frames != nullptr && c->frames->owns(p)) {
    auto* block = static_cast<std::byte*>(p) - kHeapHeader;
    c->frames->deallocate(block, *reinterpret_cast<std::size_t*>(block));
    return;
  }
  std::free(p);
}

void* allocate_or_trap(std::size_t bytes) {
  void* p = allocate_heap(bytes);
  // No exceptions in the kernel: exhaustion is a UsageFault (a group is restarted by its supervisor).
  if (p == nullptr) __builtin_trap();
  return p;
}

}  // namespace

void* operator new(std::size_t bytes) { return allocate_or_trap(bytes); }
void* operator new[](std::size_t bytes) { return allocate_or_trap(bytes); }
void* operator new(std::size_t bytes, const std::nothrow_t&) noexcept { return allocate_heap(bytes); }
void* operator new[](std::size_t bytes, const std::nothrow_t&) noexcept { return allocate_heap(bytes); }
void operator delete(void* p) noexcept { free_heap(p); }
void operator delete[](void* p) noexcept { free_heap(p); }
void operator delete(void* p, std::size_t) noexcept { free_heap(p); }
void operator delete[](void* p, std::size_t) noexcept { free_heap(p); }
