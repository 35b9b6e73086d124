// The hello services (unchanged lidl coroutine services: std::string, co_await) in two
// MPU-isolated, unprivileged groups under the kernel/arch/cortex_m supervisor. The greeter calls
// the console through the kernel's rings (capability-checked routing); each group has its own
// scheduler, frame arena and heap inside its region. On its first start the greeter then reads
// the console group's memory: the MPU faults it, the supervisor restarts only the greeter, which
// greets again through the still-running console. A third group, the forger, attacks the
// kernel-core state (see forger_entry).
//
// Written by hand against the kernel's group API, so the test does not depend on the deployment
// compiler; generated two-group MCU nodes are tested in deployments/hello/tests/isolation.
#include <cstdint>
#include <string>

#include "deployments/hello/services/console.hpp"
#include "deployments/hello/services/greeter.hpp"
#include "kernel/arch/cortex_m/group_runtime.hpp"
#include "kernel/arch/cortex_m/groups.hpp"
#include "kernel/core/console.hpp"
#include "runtime/cortex_m/mcu_group.hpp"

namespace {

namespace mcu = ::ambience::mcu;
namespace rt = ::ambience::node;

constexpr std::uint32_t kStack = 2048;
constexpr std::uint32_t kState = 6144;
constexpr std::size_t kArena = 4096;
constexpr std::uint16_t kConsoleInstance = 0;

AMBIENCE_GROUP_MEMORY(g_console_mem, kStack, kState);
AMBIENCE_GROUP_MEMORY(g_greeter_mem, kStack, kState);
AMBIENCE_GROUP_MEMORY(g_forger_mem, kStack, kState);

// A group that attacks the kernel-core state: its first start tries to redirect the published
// context word (read-only to groups: MemManage), its second exhausts its heap (operator new
// traps: UsageFault), its third checks that its heap and scheduler are its own and exits.
void forger_entry(const mcu::GroupBoot* boot) {
  mcu::GroupRuntime& runtime = mcu::GroupRuntime::create(boot);
  if (!runtime.enable_core(1024)) mcu::sys::exit(30);
  if (boot->generation == 0) {
    runtime.log("forger: redirecting the published core context\n");
    ambience_published_core.slot = nullptr;  // privileged read-write, unprivileged read-only
    mcu::sys::exit(31);                       // not reached
  }
  if (boot->generation == 1) {
    runtime.log("forger: exhausting its heap\n");
    for (;;) (void)new std::string(200, 'x');  // never freed: the arena runs out, new traps
  }
  auto* text = new std::string("own heap");
  const bool own_heap = runtime.frames()->owns(text->data()) || runtime.frames()->owns(text);
  const bool own_scheduler = &::ambience::Scheduler::current() == &runtime.scheduler() &&
                             runtime.frames() == &::ambience::FrameAllocator::instance();
  delete text;
  runtime.log(own_heap && own_scheduler ? "forger: heap, frame arena and scheduler are its own\n"
                                        : "forger: WRONG core context\n");
  mcu::sys::exit(own_heap && own_scheduler ? 0 : 32);
}

::ambience::Task<::ambience::Status> serve_console(void* console, std::span<const std::byte> request,
                                                   ::ambience::lidl::MessageBuffer& reply) {
  co_return co_await dispatch(*static_cast<hello::Console*>(console), request, reply);
}

void console_entry(const mcu::GroupBoot* boot) {
  mcu::GroupRuntime& runtime = mcu::GroupRuntime::create(boot);
  if (!runtime.enable_core(kArena)) mcu::sys::exit(10);
  auto* console = runtime.make<hello::ConsoleService>();
  auto* server = runtime.make<rt::RingServer>(runtime, &serve_console, static_cast<hello::Console*>(console));
  if (console == nullptr || server == nullptr) mcu::sys::exit(11);
  runtime.serve(kConsoleInstance, server->binding());
  runtime.serve_forever();
}

using ConsoleClient = hello::ConsoleRpcClient<rt::RingTransport>;
using Buffer = ::ambience::lidl::FixedMessageBuffer<256>;

void greeter_entry(const mcu::GroupBoot* boot) {
  mcu::GroupRuntime& runtime = mcu::GroupRuntime::create(boot);
  if (!runtime.enable_core(kArena)) mcu::sys::exit(20);
  auto* transport = runtime.make<rt::RingTransport>(runtime, kConsoleInstance);
  auto* request = runtime.make<Buffer>();
  auto* reply = runtime.make<Buffer>();
  auto* client = runtime.make<ConsoleClient>(*transport, *request, *reply);
  auto* greeter = runtime.make<hello::GreeterService>(*client);
  if (greeter == nullptr) mcu::sys::exit(21);
  // start() greets "world" through the console group and prints what it got back.
  if (runtime.run(greeter->start()) != ::ambience::Status::ok) mcu::sys::exit(22);
  if (boot->generation == 0) {
    runtime.log("greeter: now reading the console group memory\n");
    const std::uint32_t stolen = *reinterpret_cast<volatile std::uint32_t*>(g_console_mem + 256);
    mcu::sys::exit(static_cast<int>(stolen));  // not reached: the MPU faults the read
  }
  std::string line = "greeter: restarted (generation " + std::to_string(boot->generation) +
                     "), heap in arena: " + std::to_string(runtime.frames()->stats().live_frames) + " blocks\n";
  runtime.log(line.c_str());
  mcu::sys::exit(0);
}

}  // namespace

int main() {
  mcu::Supervisor& s = mcu::Supervisor::instance();
  const int console = s.add_group({"console", g_console_mem, kStack, kState, &console_entry});
  const int greeter = s.add_group({"greeter", g_greeter_mem, kStack, kState, &greeter_entry});
  const int forger = s.add_group({"forger", g_forger_mem, kStack, kState, &forger_entry});
  s.bind_group_instance(kConsoleInstance, console);
  s.allow(greeter, kConsoleInstance);
  s.start();
  s.print_layout();
  s.run_until([&] {
    return (s.exited(greeter) || s.stats(greeter).restarts > 3) && (s.exited(forger) || s.stats(forger).restarts > 3);
  });
  const mcu::GroupStats& f = s.stats(forger);
  ::ambience::println("forger: exit ", s.exit_code(forger), " faults ", f.faults, " restarts ", f.restarts);
  const mcu::GroupStats& g = s.stats(greeter);
  const mcu::GroupStats& c = s.stats(console);
  ::ambience::println("greeter: exit ", s.exit_code(greeter), " faults ", g.faults, " restarts ", g.restarts, " calls ",
                      g.calls_routed, "; console: faults ", c.faults, " restarts ", c.restarts, " entries ", c.entries);
  const bool ok = s.exited(greeter) && s.exit_code(greeter) == 0 && g.faults == 1 && g.restarts == 1 &&
                  g.calls_routed == 2 && c.faults == 0 && c.restarts == 0 && !s.exited(console) && s.exited(forger) &&
                  s.exit_code(forger) == 0 && f.faults == 2 && f.restarts == 2;
  ::ambience::println(ok ? "UNPRIVILEGED HELLO PASSED" : "UNPRIVILEGED HELLO FAILED");
  return ok ? 0 : 1;
}
