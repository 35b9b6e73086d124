// Microcontroller IPC measurements in QEMU, counted in instructions.
//
// Method: QEMU runs with `-icount shift=0,sleep=off`, so the virtual clock advances exactly 1 ns
// per executed instruction and never while idle. The CMSDK APB timer TIMER0 counts that virtual
// clock at 25 MHz (one tick per 40 instructions); the image calibrates the ratio against a
// known-length instruction loop in the same run. Round trips are averaged over many calls; the
// interrupt latency is averaged over many samples whose start phase is dithered against the
// 40-instruction tick, so the quantisation averages out.
//
// Prints human-readable lines and `RESULT <id> value=... unit=... [baseline=...] [ratio=...]`.
#include <cstring>

#include "kernel/arch/cortex_m/group_runtime.hpp"
#include "kernel/arch/cortex_m/groups.hpp"
#include "kernel/arch/cortex_m/test_services.hpp"
#include "kernel/core/console.hpp"
#include "platforms/boards/armv7m.hpp"
#include "platforms/boards/board.hpp"
#include "platforms/boards/cmsdk_timer.hpp"

using namespace ambience;
using namespace ambience::mcu;
using Acc = ambience::mcu::testing::Accumulator;

namespace {

constexpr board::CmsdkTimer kTimer{0x40000000};
constexpr unsigned kProbeIrq = 30;  // no device drives it on MPS2: pended by software

constexpr std::uint16_t kServerAcc = 1, kServerProbe = 2, kKernelAcc = 3, kKernelProbe = 4, kDriver = 8;
constexpr int kServer = 0, kClient = 1;
constexpr std::uint32_t kStack = 1536, kState = 768;
AMBIENCE_GROUP_MEMORY(g_server_mem, kStack, kState);
AMBIENCE_GROUP_MEMORY(g_client_mem, kStack, kState);

// First instruction of the service: read the clock.
struct Probe {
  static Status handle(void*, ServiceCall& c) {
    const std::uint32_t now = kTimer.value();
    std::memcpy(c.result, &now, 4);
    c.result_len = 4;
    return Status::ok;
  }
  static ServiceBinding binding() { return ServiceBinding{&Probe::handle, nullptr}; }
};

Acc g_kernel_acc;

// Runs in the client group: N calls, timed inside the group (it may read TIMER0: device window).
struct Driver {
  // kCrossGroup/kToKernel use GroupRuntime::call (the kernel's direct-call fast path when the
  // callee waits); kCrossGroupRing forces the ring path (start + finish), as every call took
  // before the fast path existed.
  static constexpr std::uint16_t kCrossGroup = 1, kSameGroup = 2, kToKernel = 3, kCrossGroupRing = 4;
  GroupRuntime* rt;
  Acc local;

  static Status handle(void* self, ServiceCall& c) {
    auto& d = *static_cast<Driver*>(self);
    std::uint32_t n = 0;
    std::memcpy(&n, c.arg, 4);
    std::uint32_t x = 1, y = 0, len = 0, bad = 0;
    const std::uint16_t method = c.method;  // in a register: the loop's own cost stays minimal
    const std::uint32_t t0 = kTimer.value();
    for (std::uint32_t i = 0; i < n; ++i) {
      x = x * 1664525u + 1013904223u;
      Status st = Status::ok;
      if (method == kSameGroup) {
        ServiceCall inner{Acc::kMix, reinterpret_cast<const std::byte*>(&x), 4, reinterpret_cast<std::byte*>(&y), 4, 0};
        st = Acc::handle(&d.local, inner);
      } else if (method == kCrossGroupRing) {
        std::int32_t h;
        st = d.rt->start(kServerAcc, Acc::kMix, &x, 4, &h);
        if (st == Status::ok) st = d.rt->finish(h, &y, 4, &len);
      } else {
        st = d.rt->call(method == kCrossGroup ? kServerAcc : kKernelAcc, Acc::kMix, &x, 4, &y, 4, &len);
      }
      if (st != Status::ok || y != Acc::mix(x)) ++bad;
    }
    const std::uint32_t ticks = t0 - kTimer.value();
    const std::uint32_t out[2] = {ticks, bad};
    std::memcpy(c.result, out, sizeof out);
    c.result_len = sizeof out;
    return Status::ok;
  }
};

void server_entry(const GroupBoot* boot) {
  GroupRuntime& rt = GroupRuntime::create(boot);
  rt.serve(kServerAcc, rt.make<Acc>()->binding());
  rt.serve(kServerProbe, Probe::binding());
  rt.serve_forever();
}

void client_entry(const GroupBoot* boot) {
  GroupRuntime& rt = GroupRuntime::create(boot);
  auto* d = rt.make<Driver>();
  d->rt = &rt;
  rt.serve(kDriver, ServiceBinding{&Driver::handle, d});
  rt.serve_forever();
}

// ---- interrupt path ----
volatile std::uint16_t g_irq_target = kKernelProbe;
volatile bool g_irq_done = false;
std::uint32_t g_irq_stamp = 0;

void irq_done(void*, Status, std::uint32_t) { g_irq_done = true; }

// The "forwarder": the interrupt hands the event to the instance the plan placed it at.
void probe_irq() { Supervisor::instance().submit(g_irq_target, 0, nullptr, 0, &g_irq_stamp, 4, &irq_done, nullptr); }

// Executes exactly 2*k instructions (subs + bne per iteration).
__attribute__((noinline)) void dither(std::uint32_t k) {
  if (k == 0) return;
  asm volatile("1: subs %0, %0, #1\n bne 1b\n" : "+r"(k)::"cc");
}

// One request/response over a kernel/ipc ring with both ends in this thread: what the ring itself
// costs (a cross-group call crosses two rings: caller<->kernel and kernel<->callee).
alignas(64) std::byte g_ring_mem[kRingBytes];

double ring_only_round_trip(double per_tick) {
  Endpoint kernel_end, group_end;
  Scheduler scheduler;
  if (ipc::format_region(g_ring_mem, kRingBytes, kGroupRing, 0) != Status::ok ||
      kernel_end.attach(ipc::Side::kernel, g_ring_mem, kRingBytes, kGroupRing, nullptr, nullptr, scheduler) !=
          Status::ok ||
      group_end.attach(ipc::Side::group, g_ring_mem, kRingBytes, kGroupRing, nullptr, nullptr, scheduler) !=
          Status::ok) {
    return -1;
  }
  constexpr std::uint32_t kRounds = 2000;
  std::uint32_t bad = 0;
  const std::uint32_t t0 = kTimer.value();
  for (std::uint32_t i = 0; i < kRounds; ++i) {
    const std::int32_t e = group_end.try_acquire();
    if (e < 0) return -1;
    group_end.header(e)->target = 1;
    group_end.header(e)->size = 4;
    std::memcpy(group_end.payload(e), &i, 4);
    group_end.push(ipc::EntryKind::request, e);
    group_end.flush();
    ipc::Entry in[1];
    ipc::ElementHeader h;
    if (kernel_end.poll(in) != 1 || kernel_end.read_header(in[0].index, h) != Status::ok) ++bad;
    kernel_end.header(in[0].index)->status = 0;
    kernel_end.push(ipc::EntryKind::response, in[0].index);
    kernel_end.flush();
    if (group_end.poll(in) != 1 || group_end.read_header(in[0].index, h) != Status::ok) ++bad;
    group_end.release(in[0].index);
  }
  const std::uint32_t ticks = t0 - kTimer.value();
  return bad ? -1 : static_cast<double>(ticks) * per_tick / kRounds;
}

// The interrupt source: one store to the NVIC. A marker for the trace-based count (run_bench.sh).
extern "C" __attribute__((noinline, used)) void ambience_bench_pend_irq() {
  board::armv7m::nvic::set_pending(kProbeIrq);
}

struct Latency {
  double mean_instructions;
  std::uint32_t samples;
};

Latency irq_latency(std::uint16_t target, double per_tick, double read_overhead_ticks, std::uint32_t kSamples = 400) {
  Supervisor& s = Supervisor::instance();
  g_irq_target = target;
  std::uint64_t total = 0;
  for (std::uint32_t i = 0; i < kSamples; ++i) {
    g_irq_done = false;
    dither(1 + i % 20);
    const std::uint32_t t0 = kTimer.value();
    ambience_bench_pend_irq();
    s.run_until([] { return g_irq_done; });
    total += t0 - g_irq_stamp;
  }
  const double ticks = static_cast<double>(total) / kSamples - read_overhead_ticks;
  return Latency{ticks * per_tick, kSamples};
}

void print_fixed(double v) {
  const auto whole = static_cast<std::uint64_t>(v);
  const auto frac = static_cast<std::uint32_t>((v - static_cast<double>(whole)) * 10 + 0.5);
  if (frac == 10) {
    print(whole + 1, ".0");
  } else {
    print(whole, ".", frac);
  }
}

void result(const char* id, double value, const char* unit, double baseline = -1, double ratio = -1) {
  print("RESULT ", id, "_", board::name()[7] == '3' ? "m4" : "m7", " value=");
  print_fixed(value);
  print(" unit=", unit);
  if (baseline >= 0) {
    print(" baseline=");
    print_fixed(baseline);
  }
  if (ratio >= 0) {
    print(" ratio=");
    print_fixed(ratio);
  }
  println();
}

}  // namespace

int main() {
  Supervisor& s = Supervisor::instance();
  GroupConfig server{"server", g_server_mem, kStack, kState, &server_entry};
  GroupConfig client{"client", g_client_mem, kStack, kState, &client_entry};
  server.device_base = client.device_base = kTimer.base();  // TIMER0 page, for timestamps
  server.device_size_log2 = client.device_size_log2 = 12;
  s.add_group(server);
  s.add_group(client);
  s.bind_group_instance(kServerAcc, kServer);
  s.bind_group_instance(kServerProbe, kServer);
  s.bind_group_instance(kDriver, kClient);
  s.bind_kernel_instance(kKernelAcc, g_kernel_acc.binding());
  s.bind_kernel_instance(kKernelProbe, Probe::binding());
  s.allow(kClient, kServerAcc);
  s.allow(kClient, kKernelAcc);
  s.start();
  kTimer.start_free_running();
  board::set_irq_handler(kProbeIrq, &probe_irq);
  board::armv7m::nvic::enable(kProbeIrq);

#ifdef AMBIENCE_BENCH_TRACE
  // Trace mode (run under `qemu -d in_asm,exec,nochain`): a few interrupt samples per placement;
  // run_bench.sh counts the executed instructions from ambience_bench_pend_irq to the probe.
  irq_latency(kKernelProbe, 40, 0, 8);
  irq_latency(kServerProbe, 40, 0, 8);
  println("TRACE DONE");
  return 0;
#endif
  println("mcu benchmark on ", board::name(), " (QEMU -icount shift=0: 1 virtual ns per instruction)");

  // Calibration: a loop of exactly 2*K instructions, timed by TIMER0.
  constexpr std::uint32_t kLoop = 200000;
  std::uint32_t t0 = kTimer.value();
  dither(kLoop);
  std::uint32_t t1 = kTimer.value();
  const double per_tick = 2.0 * kLoop / static_cast<double>(t0 - t1);
  // Cost of the timestamp pair itself (read, read), in ticks: averaged.
  std::uint64_t pair = 0;
  for (int i = 0; i < 1000; ++i) {
    dither(1 + i % 20);
    const std::uint32_t a = kTimer.value();
    const std::uint32_t b = kTimer.value();
    pair += a - b;
  }
  const double read_overhead = static_cast<double>(pair) / 1000;
  print("calibration: ", 2 * kLoop, " instructions = ", t0 - t1, " timer ticks -> ");
  print_fixed(per_tick);
  print(" instructions/tick; timestamp pair = ");
  print_fixed(read_overhead * per_tick);
  println(" instructions");

  // Resolution check: short intervals of known length (2*k instructions in dither(), plus its
  // call overhead), measured the same way as the interrupt latency. The differences between
  // rows must be 2*(k2-k1) if sub-tick intervals average out correctly.
  for (std::uint32_t k : {5u, 10u, 20u, 40u}) {
    std::uint64_t sum = 0;
    for (std::uint32_t i = 0; i < 400; ++i) {
      dither(1 + i % 20);
      const std::uint32_t a = kTimer.value();
      dither(k);
      const std::uint32_t b = kTimer.value();
      sum += a - b;
    }
    print("resolution check: dither(", k, ") = ", 2 * k, " instructions + call -> measured ");
    print_fixed(static_cast<double>(sum) / 400 * per_tick);
    println();
  }

  // Round trips, timed inside the client group.
  println(
      "method: round trips = 2000 calls timed inside the client group with TIMER0; a call is "
      "GroupRuntime::call: svc kSysCall -> the kernel validates the descriptor, checks the "
      "capability, copies the arguments into the waiting callee's slot and switches straight to "
      "it -> service -> svc kSysReply -> the kernel validates the result length, copies it into "
      "the caller's result space and switches straight back (4 switches, no ring); the ring "
      "path (start+finish: caller ring -> kernel -> callee ring and back) is measured too");
  constexpr std::uint32_t kCalls = 2000;
  auto run = [&](std::uint16_t method, const char* what) {
    std::uint32_t out[2] = {0, 0}, len = 0;
    const std::uint32_t direct0 = s.stats(kClient).direct;
    const Status st = s.call(kDriver, method, &kCalls, 4, out, sizeof out, &len);
    const double per_call = static_cast<double>(out[0]) * per_tick / kCalls;
    print(what, ": ", kCalls, " calls (", s.stats(kClient).direct - direct0, " over the direct path), ", out[0],
          " ticks, status ", st, ", wrong results ", out[1], " -> ");
    print_fixed(per_call);
    println(" instructions/call");
    return (st == Status::ok && out[1] == 0) ? per_call : -1.0;
  };
  const double same = run(Driver::kSameGroup, "same-group direct call (baseline)");
  const double to_kernel = run(Driver::kToKernel, "group -> kernelized service");
  const double cross = run(Driver::kCrossGroup, "group -> other group (cross-group round trip)");
  const double cross_ring = run(Driver::kCrossGroupRing, "group -> other group over the rings (start+finish)");
  if (same < 0 || to_kernel < 0 || cross < 0 || cross_ring < 0) {
    println("benchmark FAILED: a call went wrong");
    return 1;
  }
  const double ring_only = ring_only_round_trip(per_tick);
  print("ring only (kernel/ipc/ring.hpp request+response, both ends in one thread, no switch): ");
  print_fixed(ring_only);
  println(" instructions/round trip");
  result("mcu_cross_group_round_trip", cross, "instructions", same);
  result("mcu_cross_group_round_trip_ring_path", cross_ring, "instructions", cross, cross_ring / cross);
  result("mcu_ring_only_round_trip", ring_only, "instructions");
  result("mcu_group_to_kernel_round_trip", to_kernel, "instructions", same);

  // Interrupt to first service instruction.
  const Latency kernelized = irq_latency(kKernelProbe, per_tick, read_overhead);
  const Latency user = irq_latency(kServerProbe, per_tick, read_overhead);
  print("interrupt -> first service instruction over ", kernelized.samples, " samples: kernelized ");
  print_fixed(kernelized.mean_instructions);
  print(", user group ");
  print_fixed(user.mean_instructions);
  println(" instructions");
  const double k = kernelized.mean_instructions < 1 ? 1 : kernelized.mean_instructions;
  result("mcu_irq_to_service_kernelized", kernelized.mean_instructions, "instructions");
  result("mcu_irq_to_service_user_group", user.mean_instructions, "instructions", kernelized.mean_instructions,
         user.mean_instructions / k);
  println("BENCH DONE");
  return 0;
}
