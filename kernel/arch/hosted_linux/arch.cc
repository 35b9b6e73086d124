// The kernel core's arch layer on x86_64 Linux (a node is a process; see DESIGN.md).
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdint>
#include <cstdio>

#include "kernel/arch/hosted_linux/hosted.hpp"
#include "kernel/core/arch.hpp"
#include "kernel/core/job.hpp"
#include "kernel/core/status.hpp"

extern "C" void ambience_fiber_start();

namespace ambience {

namespace arch {
namespace {

std::atomic<std::uint32_t> g_private_wake_word{0};
// The word the loop sleeps on. An IPC node moves it into shared memory so peers in other
// processes can wake it (then futex ops must be the shared kind: keys differ).
std::atomic<std::atomic<std::uint32_t>*> g_wake_word{&g_private_wake_word};
std::atomic<bool> g_wake_shared{false};
hosted::IdleHook* g_idle_hook = nullptr;
// Threads of this process sleeping on the wake word: wake() skips the futex system call when there
// are none, so post() from the loop itself (the common case) costs no system call.
std::atomic<int> g_sleepers{0};

int wait_op() { return g_wake_shared.load(std::memory_order_relaxed) ? FUTEX_WAIT : FUTEX_WAIT_PRIVATE; }
int wake_op() { return g_wake_shared.load(std::memory_order_relaxed) ? FUTEX_WAKE : FUTEX_WAKE_PRIVATE; }

long futex(std::atomic<std::uint32_t>* word, int op, std::uint32_t value, const timespec* timeout) {
  return syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), op, value, timeout, nullptr, 0);
}

}  // namespace

std::uint64_t now_us() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000u + static_cast<std::uint64_t>(ts.tv_nsec) / 1000u;
}

std::uint32_t wake_epoch() { return g_wake_word.load(std::memory_order_acquire)->load(std::memory_order_acquire); }

void wake() {
  std::atomic<std::uint32_t>* word = g_wake_word.load(std::memory_order_acquire);
  word->fetch_add(1, std::memory_order_seq_cst);
  // Pairs with the increment in idle_wait: either we see the sleeper, or its futex wait sees the
  // new word value and does not sleep.
  if (g_sleepers.load(std::memory_order_seq_cst) > 0) futex(word, wake_op(), INT_MAX, nullptr);
}

namespace hosted {

void use_wake_word(std::atomic<std::uint32_t>* word, bool shared) {
  g_wake_shared.store(shared && word != nullptr, std::memory_order_relaxed);
  g_wake_word.store(word != nullptr ? word : &g_private_wake_word, std::memory_order_release);
}

void set_idle_hook(IdleHook* hook) { g_idle_hook = hook; }

void futex_wake_shared(std::atomic<std::uint32_t>* word) { futex(word, FUTEX_WAKE, INT_MAX, nullptr); }

}  // namespace hosted

void idle_wait(std::uint64_t deadline_us, std::uint32_t epoch) {
  hosted::IdleHook* hook = g_idle_hook;
  if (hook != nullptr) {
    // Adaptive spinning: a peer's reply usually arrives within microseconds, much sooner than a
    // sleep/wake pair across CPUs (~30 us). Spinning stops after a run of misses (e.g. the peer
    // shares our CPU or went quiet) and is probed again now and then; a hit restores the full
    // budget. Spinning only follows activity, so an idle node sleeps and uses no CPU. After a few
    // Spinners that know they share a CPU with their peer yield instead of pausing; others never
    // yield (on a loaded machine a yield can cost a whole time slice).
    // Always look once, spinning or not: prepare_sleep() refuses to sleep while work is pending,
    // and only poll() consumes it.
    if (hook->poll(hook->ctx)) return;
    if (hook->spin_current_us == 0 && ++hook->probe_counter % 16 == 0) hook->spin_current_us = hook->spin_budget_us;
    std::uint32_t budget = hook->spin_current_us;
    // A peer that last ran on our CPU cannot answer while we spin: sleep at once (a wake-up on
    // the same CPU is cheap, and yielding on a busy machine can cost a whole time slice).
    if (budget != 0 && hook->should_spin != nullptr && !hook->should_spin(hook->ctx, sched_getcpu())) budget = 0;
    const bool yield = hook->yield_while_spinning;
    const std::uint64_t start = now_us();
    const std::uint64_t spin_until = start + budget;
    for (std::uint64_t now = start; now < spin_until; now = now_us()) {
      if (hook->poll(hook->ctx)) {
        hook->spin_hits++;
        hook->consecutive_misses = 0;
        hook->spin_current_us = hook->spin_budget_us;
        return;
      }
      if (g_wake_word.load(std::memory_order_relaxed)->load(std::memory_order_acquire) != epoch) return;
      if (deadline_us != UINT64_MAX && now >= deadline_us) return;
      if (yield) {
        sched_yield();
      } else {
        for (int i = 0; i < 16; ++i) __builtin_ia32_pause();
      }
    }
    if (budget != 0) {
      hook->spin_misses++;
      if (++hook->consecutive_misses >= 8) hook->spin_current_us = 0;
    }
    if (!hook->prepare_sleep(hook->ctx)) return;
    hook->sleeps++;
  }
  timespec rel;
  const timespec* timeout = nullptr;
  if (deadline_us != UINT64_MAX) {
    const std::uint64_t now = now_us();
    if (deadline_us <= now) return;
    const std::uint64_t wait = deadline_us - now;
    rel.tv_sec = static_cast<time_t>(wait / 1000000u);
    rel.tv_nsec = static_cast<long>((wait % 1000000u) * 1000u);
    timeout = &rel;
  }
  g_sleepers.fetch_add(1, std::memory_order_seq_cst);
  futex(g_wake_word.load(std::memory_order_acquire), wait_op(), epoch, timeout);
  g_sleepers.fetch_sub(1, std::memory_order_relaxed);
  if (hook != nullptr) hook->end_sleep(hook->ctx);
}

void wait_on(std::atomic<std::uint32_t>& word, std::uint32_t expected) {
  futex(&word, FUTEX_WAIT_PRIVATE, expected, nullptr);
}

void wake_all(std::atomic<std::uint32_t>& word) { futex(&word, FUTEX_WAKE_PRIVATE, INT_MAX, nullptr); }

void console_write(const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(1, data, size);
    if (n <= 0) return;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

void exit(int status) {
  std::fflush(stdout);
  ::_exit(status);
}

void QueueLock::lock() {
  while (locked_.exchange(true, std::memory_order_acquire)) {
    while (locked_.load(std::memory_order_relaxed)) __builtin_ia32_pause();
  }
}

void QueueLock::unlock() { locked_.store(false, std::memory_order_release); }

// Stack layout expected by ambience_context_switch: rbp rbx r12..r15 pushed, then return address.
void* prepare_stack(void* stack_top, void (*entry)(void*), void* arg) {
  auto top = reinterpret_cast<std::uintptr_t>(stack_top) & ~std::uintptr_t{15};
  // After the six pops and `ret`, rsp == top (16-aligned), as the ABI wants before a call.
  auto* sp = reinterpret_cast<std::uint64_t*>(top) - 7;
  sp[0] = 0;                                              // r15
  sp[1] = 0;                                              // r14
  sp[2] = reinterpret_cast<std::uint64_t>(arg);           // r13
  sp[3] = reinterpret_cast<std::uint64_t>(entry);         // r12
  sp[4] = 0;                                              // rbx
  sp[5] = 0;                                              // rbp
  sp[6] = reinterpret_cast<std::uint64_t>(&ambience_fiber_start);  // return address
  return sp;
}

}  // namespace arch
}  // namespace ambience

// Callee-saved registers of the SysV x86_64 ABI; the x87/SSE control words are left shared.
asm(R"(
.text
.globl ambience_context_switch
.type ambience_context_switch,@function
ambience_context_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
.size ambience_context_switch, .-ambience_context_switch

.globl ambience_fiber_start
.type ambience_fiber_start,@function
ambience_fiber_start:
  movq %r13, %rdi
  callq *%r12
  ud2
.size ambience_fiber_start, .-ambience_fiber_start
.section .note.GNU-stack,"",@progbits
.text
)");
