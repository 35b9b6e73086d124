// What MPU isolation costs a lidl call on a microcontroller: the same lidl call (Counter.add, a
// u32 in, a u32 out) made N times four ways, timed with TIMER0 in the same run:
//   in_image_zero_copy   both ends privileged in one image, lidl zero-copy ABI through
//                        node::LocalChannel (single-image MCU nodes)
//   in_image_serialized  both ends privileged in one image, lidl RPC messages handed to the
//                        generated dispatch() directly (serialization without isolation)
//   isolated             caller and callee in two unprivileged MPU groups, the generated
//                        zero-copy client over node::RingZeroCopyChannel: typed calls through the
//                        kernel's direct call, served in place by serve_procedure (what
//                        generated isolated MCU nodes use for group -> group calls)
//   isolated_serialized  the same groups, lidl RPC messages through the kernel
//                        (node::RingTransport -> supervisor -> RingServer's dispatch())
// Both isolated variants run under the plan's kind of grant (procedure `add` only, the lidl
// envelope's procedure field registered), so the capability check is part of the figure.
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
  ::ambience::Task<::ambience::Status> call(std::span<const std::byte> request,
                                            ::ambience::lidl::MessageBuffer& reply) {
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
// checks every answer (a failed call answers 0; the counter may have counted earlier calls).
Task<void> run_calls(bench::Counter& counter, std::uint32_t* ticks, bool* ok) {
  std::uint32_t expect = co_await counter.add(1);
  *ok = expect != 0;
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

// ---- the isolated variants: two unprivileged groups
constexpr std::uint32_t kStack = 2048, kState = 6144;
constexpr std::uint16_t kCounterInstance = 0, kMeasureInstance = 1;
// The methods of the client group's measure instance: which client loops over the calls.
constexpr std::uint16_t kMeasureZeroCopy = 1, kMeasureSerialized = 2;
AMBIENCE_GROUP_MEMORY(g_server_mem, kStack, kState);
AMBIENCE_GROUP_MEMORY(g_client_mem, kStack, kState);

Task<Status> serve_counter(void* impl, std::span<const std::byte> request, ::ambience::lidl::MessageBuffer& reply) {
  co_return co_await dispatch(*static_cast<bench::Counter*>(impl), request, reply);
}

// The typed calls of the counter, as the deployment compiler writes them (serve_typed_<instance>).
Status serve_typed_counter(mcu::GroupRuntime& runtime, void* impl, mcu::ServiceCall& call) {
  bench::Counter& counter = *static_cast<bench::Counter*>(impl);
  switch (call.method) {
    case 0: return rt::serve_procedure<bench::Counter, 0>(runtime, call, [&](auto&... a) { return counter.add(a...); });
  }
  return Status::not_found;
}

void server_entry(const mcu::GroupBoot* boot) {
  mcu::GroupRuntime& runtime = mcu::GroupRuntime::create(boot);
  auto* service = runtime.make<CounterService>();
  bench::Counter& counter = *service;
  auto* server =
      runtime.make<rt::RingServer>(runtime, &serve_counter, &counter, rt::TypedCalls{&serve_typed_counter, &counter});
  if (server == nullptr || !runtime.enable_core()) mcu::sys::exit(1);
  runtime.serve(kCounterInstance, server->binding());
  runtime.serve_forever();
}

// The client group: both kinds of generated clients of the server's Counter. The kernel calls
// its measure instance once per variant; the result is {TIMER0 ticks, all answers right}.
struct Clients {
  mcu::GroupRuntime* runtime;
  bench::Counter* zero_copy;
  bench::Counter* serialized;

  static Status measure(void* self, mcu::ServiceCall& call) {
    auto& c = *static_cast<Clients*>(self);
    bench::Counter* client = call.method == kMeasureZeroCopy     ? c.zero_copy
                             : call.method == kMeasureSerialized ? c.serialized
                                                                 : nullptr;
    if (client == nullptr || call.result_cap < 8) return Status::not_found;
    std::uint32_t out[2] = {0, 0};
    bool ok = false;
    const Status ran = c.runtime->run(run_calls(*client, &out[0], &ok));
    if (ran != Status::ok) return ran;
    out[1] = ok ? 1 : 0;
    mcu::copy_bytes(call.result, out, sizeof out);
    call.result_len = sizeof out;
    return Status::ok;
  }
};

void client_entry(const mcu::GroupBoot* boot) {
  mcu::GroupRuntime& runtime = mcu::GroupRuntime::create(boot);
  using Channel = rt::RingZeroCopyChannel<bench::Counter>;
  auto* channel = runtime.make<Channel>(runtime, kCounterInstance);
  auto* zero_copy = runtime.make<bench::CounterZeroCopyClient<Channel>>(*channel);
  auto* transport = runtime.make<rt::RingTransport>(runtime, kCounterInstance);
  auto* request = runtime.make<rt::RingMessageBuffer>();
  auto* reply = runtime.make<rt::RingMessageBuffer>();
  auto* serialized = runtime.make<bench::CounterRpcClient<rt::RingTransport>>(*transport, *request, *reply);
  auto* clients = runtime.make<Clients>(Clients{&runtime, zero_copy, serialized});
  if (clients == nullptr || !runtime.enable_core()) mcu::sys::exit(1);
  runtime.serve(kMeasureInstance, mcu::ServiceBinding{&Clients::measure, clients});
  runtime.serve_forever();
}

// Ticks of one isolated variant (0 on failure).
std::uint32_t measure_isolated(mcu::Supervisor& s, std::uint16_t variant, bool* ok) {
  std::uint32_t out[2] = {0, 0}, len = 0;
  const Status st = s.call(kMeasureInstance, variant, nullptr, 0, out, sizeof out, &len);
  *ok = st == Status::ok && len == sizeof out && out[1] == 1;
  return *ok ? out[0] : 0;
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
                      static_cast<std::uint32_t>(kInstructionsPerTick),
                      " instructions per tick under -icount shift=0)");
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
  s.bind_group_instance(kMeasureInstance, client_id);
  s.set_procedure_field(rt::kLidlProcedureField);
  s.allow(client_id, kCounterInstance, 1ull << 0);  // Counter.add, as a plan grants it
  s.start();
  bool iso_ok = false, iso_ser_ok = false;
  const std::uint32_t iso_ticks = measure_isolated(s, kMeasureZeroCopy, &iso_ok);
  const std::uint32_t iso_ser_ticks = measure_isolated(s, kMeasureSerialized, &iso_ser_ok);

  all_ok = zc_ok && ser_ok && iso_ok && iso_ser_ok && s.stats(client_id).restarts == 0 &&
           s.stats(server_id).restarts == 0 && s.stats(client_id).denied == 0;
  const double zc = zc_ticks * kInstructionsPerTick / kCalls;
  const double ser = ser_ticks * kInstructionsPerTick / kCalls;
  const double isolated = iso_ticks * kInstructionsPerTick / kCalls;
  const double isolated_serialized = iso_ser_ticks * kInstructionsPerTick / kCalls;
  ::ambience::println("direct calls taken by the client: ", s.stats(client_id).direct, " of ", 2 * (kCalls + 1));
  report("mcu_lidl_call_in_image_zero_copy", "in image, zero-copy (LocalChannel)", zc, 0);
  report("mcu_lidl_call_in_image_serialized", "in image, serialized (dispatch)", ser, zc);
  report("mcu_lidl_call_isolated", "isolated groups, zero-copy client (RingZeroCopyChannel)", isolated, zc);
  report("mcu_lidl_call_isolated_serialized", "isolated groups, serialized (RingTransport)", isolated_serialized,
         isolated);
  s.print_stats();
  ::ambience::println(all_ok ? "BENCH OK"
                             : "BENCH FAILED: a call returned a wrong answer, was refused, or a group faulted");
  return all_ok ? 0 : 1;
}
