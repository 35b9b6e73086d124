// The kernel core's arch layer on Cortex-M (ARMv7E-M, thread mode on MSP for the kernel): SysTick
// time base, WFI when idle, PRIMASK critical sections, fiber switch, console and exit via the board.
#include <atomic>
#include <cstdint>

#include "kernel/core/arch.hpp"
#include "kernel/core/job.hpp"
#include "kernel/core/status.hpp"
#include "platforms/boards/board.hpp"

extern "C" void ambience_fiber_start();

namespace ambience {

namespace arch {
namespace {

volatile std::uint32_t& reg(std::uintptr_t a) { return *reinterpret_cast<volatile std::uint32_t*>(a); }
constexpr std::uintptr_t kSystCsr = 0xE000E010, kSystRvr = 0xE000E014, kSystCvr = 0xE000E018;
constexpr std::uint32_t kTickUs = 1000;

volatile std::uint64_t g_ticks = 0;
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

std::uint32_t wake_epoch() { return g_wake; }
void wake() { g_wake = g_wake + 1; }

void idle_wait(std::uint64_t deadline_us, std::uint32_t epoch) {
  if (!g_clock_started) start_clock();
  // Interrupts masked between the check and WFI: a pending interrupt still ends WFI, so no
  // wake-up can slip in between (the ARMv7-M idiom).
  asm volatile("cpsid i" ::: "memory");
  if (g_wake == epoch && now_us() < deadline_us) asm volatile("dsb\n wfi" ::: "memory");
  asm volatile("cpsie i" ::: "memory");
}

void wait_on(std::atomic<std::uint32_t>&, std::uint32_t) { fatal("blocking wait on a microcontroller"); }
void wake_all(std::atomic<std::uint32_t>&) {}

void console_write(const char* data, std::size_t size) { board::console_write(data, size); }
void exit(int status) { board::exit(status); }

void QueueLock::lock() {
  std::uint32_t primask;
  asm volatile("mrs %0, primask\n cpsid i" : "=r"(primask)::"memory");
  saved_primask_ = primask;
}

void QueueLock::unlock() {
  asm volatile("msr primask, %0" ::"r"(saved_primask_) : "memory");
}

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
