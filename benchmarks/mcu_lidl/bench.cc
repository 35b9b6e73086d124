// What MPU isolation costs a lidl call on a microcontroller: the same lidl call (Counter.add, a
// u32 in, a u32 out) made N times three ways, timed with TIMER0 in the same run:
//   in_image_zero_copy   both ends privileged in one image, lidl zero-copy ABI through
//                        node::LocalChannel (what generated single-image MCU nodes do)
//   in_image_serialized  both ends privileged in one image, lidl RPC messages handed to the
//                        generated dispatch() directly (serialization without isolation)
//   isolated             caller and callee in two unprivileged MPU groups, lidl RPC messages
//                        through the kernel (node::RingTransport -> supervisor -> RingServer):
//                        what generated nodes with isolated MCU groups do
// Run under `qemu -icount shift=0,sleep=off` (run.sh): 1 virtual ns per instruction, and
// TIMER0 counts PCLK = 25 MHz virtual, i.e. 40 instructions per tick.
#include <cstdint>
#include <span>

#include "benchmarks/mcu_lidl/counter.lidl.hpp"
#include "kernel/arch/cortex_m/group_runtime.hpp"
#include "kernel/arch/cortex_m/groups.hpp"
#include "kernel/core/console.hpp"
#include "kernel/core/scheduler.hpp"
#include "kernel/core/task.hpp"
#include "platforms/boards/board.hpp"
#include "platforms/boards/cmsdk_timer.hpp"
#include "runtime/cortex_m/mcu_group.hpp"
#include "runtime/node_runtime.hpp"

namespace mcu_lidl_bench {

// In-image serialization without isolation: the request goes straight to dispatch().
class DirectDispatch {
 public:
  explicit DirectDispatch(::bench::Counter& impl) : impl_(impl) {}
  ::ambience::Task<::ambience::Status> call(std::span<const std::byte> request, ::ambience::lidl::MessageBuffer& reply) {
    co_return co_await dispatch(impl_, request, reply);
  }

 private:
  ::bench::Counter& impl_;
};

}  // namespace mcu_lidl_bench

namespace {

using mcu_lidl_bench::DirectDispatch;
namespace mcu = ::ambience::mcu;
namespace rt = ::ambience::node;
using ::ambience::Status;
using ::ambience::Task;

constexpr ::ambience::board::CmsdkTimer kTimer{0x40000000};
constexpr std::uint32_t kCalls = 2000;
constexpr double kInstructionsPerTick = 40.0;  // 1 GHz virtual (icount shift=0) / 25 MHz PCLK

class CounterService final : public bench::Counter {
 public:
  Task<std::uint32_t> add(std::uint32_t x) override {
    total_ += x;
    co_return total_;
  }

 private:
  std::uint32_t total_ = 0;
};

// Calls add(1) kCalls times after one warm-up call; returns TIMER0 ticks (down-counter) and
// checks every answer.
Task<void> run_calls(bench::Counter& counter, std::uint32_t* ticks, bool* ok) {
  std::uint32_t expect = co_await counter.add(1);
  *ok = expect == 1;
  const std::uint32_t t0 = kTimer.value();
  for (std::uint32_t i = 0; i < kCalls; ++i) {
    const std::uint32_t got = co_await counter.add(1);
    *ok = *ok && got == ++expect;
  }
  *ticks = t0 - kTimer.value();
}

std::uint32_t run_in_kernel(Task<void> task) {
  ::ambience::Scheduler& kernel = ::ambience::Scheduler::current();
  if (::ambience::spawn(std::move(task), kernel) != Status::ok) return 0;
  kernel.run_until_idle();
  return 1;
}

// ---- the isolated variant: two unprivileged groups
constexpr std::uint32_t kStack = 2048, kState = 6144;
constexpr std::uint16_t kCounterInstance = 0;
AMBIENCE_GROUP_MEMORY(g_server_mem, kStack, kState);
AMBIENCE_GROUP_MEMORY(g_client_mem, kStack, kState);

Task<Status> serve_counter(void* impl, std::span<const std::byte> request, ::ambience::lidl::MessageBuffer& reply) {
  co_return co_await dispatch(*static_cast<bench::Counter*>(impl), request, reply);
}

void server_entry(const mcu::GroupBoot* boot) {
  mcu::GroupRuntime& runtime = mcu::GroupRuntime::create(boot);
  auto* service = runtime.make<CounterService>();
  auto* server = runtime.make<rt::RingServer>(runtime, &serve_counter, static_cast<bench::Counter*>(service));
  if (server == nullptr || !runtime.enable_core()) mcu::sys::exit(1);
  runtime.serve(kCounterInstance, server->binding());
  runtime.serve_forever();
}

void client_entry(const mcu::GroupBoot* boot) {
  mcu::GroupRuntime& runtime = mcu::GroupRuntime::create(boot);
  auto* transport = runtime.make<rt::RingTransport>(runtime, kCounterInstance);
  auto* request = runtime.make<rt::RingMessageBuffer>();
  auto* reply = runtime.make<rt::RingMessageBuffer>();
  auto* client = runtime.make<bench::CounterRpcClient<rt::RingTransport>>(*transport, *request, *reply);
  auto* ticks = runtime.make<std::uint32_t>(0u);
  auto* ok = runtime.make<bool>(false);
  if (ticks == nullptr || !runtime.enable_core()) mcu::sys::exit(1);
  runtime.run(run_calls(*client, ticks, ok));
  // Report to the kernel through the exit code: ticks (>= 0), or -1 if an answer was wrong.
  mcu::sys::exit(*ok ? static_cast<int>(*ticks) : -1);
}

void report(const char* id, const char* what, double per_call, double baseline) {
  ::ambience::println(what, ": ", static_cast<std::uint32_t>(per_call), " instructions per call");
  ::ambience::print("RESULT ", id, " value=", static_cast<std::uint32_t>(per_call), " unit=instructions");
  if (baseline > 0) {
    const auto ratio_x100 = static_cast<std::uint32_t>(per_call / baseline * 100 + 0.5);
    ::ambience::print(" baseline=", static_cast<std::uint32_t>(baseline), " ratio=", ratio_x100 / 100, ".",
                      (ratio_x100 % 100) / 10, ratio_x100 % 10);
  }
  ::ambience::println();
}

}  // namespace

int main() {
  kTimer.start_free_running();
  ::ambience::println("lidl call cost on ", ::ambience::board::name(), ": ", kCalls,
                      " calls of Counter.add(u32) -> u32 per variant, timed with TIMER0 (",
                      static_cast<std::uint32_t>(kInstructionsPerTick), " instructions per tick under -icount shift=0)");
  bool all_ok = true;

  CounterService zero_copy_impl;
  rt::LocalChannel<bench::Counter> channel(zero_copy_impl, rt::Grant{0x1ull});
  bench::CounterZeroCopyClient<rt::LocalChannel<bench::Counter>> zero_copy_client(channel);
  std::uint32_t zc_ticks = 0;
  bool zc_ok = false;
  run_in_kernel(run_calls(zero_copy_client, &zc_ticks, &zc_ok));

  CounterService serialized_impl;
  DirectDispatch direct(serialized_impl);
  ::ambience::lidl::FixedMessageBuffer<64> request, reply;
  bench::CounterRpcClient<DirectDispatch> serialized_client(direct, request, reply);
  std::uint32_t ser_ticks = 0;
  bool ser_ok = false;
  run_in_kernel(run_calls(serialized_client, &ser_ticks, &ser_ok));

  mcu::Supervisor& s = mcu::Supervisor::instance();
  mcu::GroupConfig server{"server", g_server_mem, kStack, kState, &server_entry};
  mcu::GroupConfig client{"client", g_client_mem, kStack, kState, &client_entry};
  client.device_base = kTimer.base();  // TIMER0 page: the client times its own calls
  client.device_size_log2 = 12;
  const int server_id = s.add_group(server);
  const int client_id = s.add_group(client);
  s.bind_group_instance(kCounterInstance, server_id);
  s.allow(client_id, kCounterInstance);
  s.start();
  s.run_until([&] { return s.exited(client_id) || s.stats(client_id).restarts != 0; });
  const int iso = s.exited(client_id) ? s.exit_code(client_id) : -1;

  all_ok = zc_ok && ser_ok && iso > 0;
  const double zc = zc_ticks * kInstructionsPerTick / kCalls;
  const double ser = ser_ticks * kInstructionsPerTick / kCalls;
  const double isolated = iso * kInstructionsPerTick / kCalls;
  report("mcu_lidl_call_in_image_zero_copy", "in image, zero-copy (LocalChannel)", zc, 0);
  report("mcu_lidl_call_in_image_serialized", "in image, serialized (dispatch)", ser, zc);
  report("mcu_lidl_call_isolated", "isolated groups, through the kernel", isolated, zc);
  ::ambience::println(all_ok ? "BENCH OK" : "BENCH FAILED: a call returned a wrong answer or the client faulted");
  return all_ok ? 0 : 1;
}
