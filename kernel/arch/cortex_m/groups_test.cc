// MPU-isolated groups in QEMU: isolation and restart, IPC under load from several groups,
// back-pressure, zero-copy sharing, and kernelized vs user-group placement of the same service.
#include <cstring>

#include "kernel/arch/cortex_m/group_runtime.hpp"
#include "kernel/arch/cortex_m/groups.hpp"
#include "kernel/arch/cortex_m/test_services.hpp"
#include "kernel/testing/test.hpp"

using namespace ambience;
using namespace ambience::mcu;
using Acc = ambience::mcu::testing::Accumulator;

namespace {

// Instance ids (a plan would number them).
constexpr std::uint16_t kServerAcc = 1, kRogueAcc = 2, kKernelAcc = 3, kServerTwin = 6;
constexpr std::uint16_t kDriverBase = 8;  // + group id: the client groups' drivers
// Instances client0 may call only some procedures of: kMix, and envelope procedure 5.
constexpr std::uint16_t kMaskedAcc = 7, kMaskedKernel = 4;
// Calls with this method carry their procedure id in byte 2 of their arguments (an envelope).
constexpr std::uint16_t kEnvelope = 0x40;
constexpr std::uint64_t kMaskedGrant = (1ull << ambience::mcu::testing::Accumulator::kMix) | (1ull << 5);
constexpr int kServer = 0, kRogue = 1, kFirstClient = 2, kClients = 3;

constexpr std::uint32_t kStack = 1536, kState = 768;
AMBIENCE_GROUP_MEMORY(g_server_mem, kStack, kState);
AMBIENCE_GROUP_MEMORY(g_rogue_mem, kStack, kState);
AMBIENCE_GROUP_MEMORY(g_client0_mem, kStack, kState);
AMBIENCE_GROUP_MEMORY(g_client1_mem, kStack, kState);
AMBIENCE_GROUP_MEMORY(g_client2_mem, kStack, kState);

// A region as a plan's linker fragment would give it: explicit size, objects at its start.
alignas(8192) std::byte g_planned_region[8192];
constexpr std::uint16_t kPlannedAcc = 14;
constexpr int kPlanned = 5;
constexpr std::uint32_t kPlannedObjects = 256;

Acc g_kernel_acc;                  // the kernelized placement
Acc g_masked_kernel;               // kernelized, behind a procedure mask
Acc g_kernel_twin;                 // kernel-side twin of the server's instance 6
volatile std::uint32_t g_kernel_secret = 0x5EC12E7;

// Runs in each client group: the kernel tells it what to do through this service.
struct Driver {
  static constexpr std::uint16_t kLoad = 1, kBackPressure = 2, kZeroCopy = 3, kScribble = 4, kSame = 5, kForbidden = 6,
                                 kFaultMidCall = 7, kRogueRecurse = 8, kRogueSpin = 9, kDirectProbe = 10,
                                 kProcedures = 11;
  GroupRuntime* rt;
  std::byte* aligned;  // 64 bytes, 64-aligned: MPU-shareable

  std::uint32_t load(std::uint32_t n, std::uint32_t seed) {
    std::uint32_t bad = 0;
    for (std::uint32_t i = 0; i < n; ++i) {
      const std::uint32_t x = seed * 7919u + i;
      std::uint32_t y = 0, len = 0;
      const std::uint16_t target = (i % 4 == 3) ? kKernelAcc : kServerAcc;
      if (rt->call(target, Acc::kMix, &x, 4, &y, 4, &len) != Status::ok || len != 4 || y != Acc::mix(x)) ++bad;
    }
    return bad;
  }

  std::uint32_t back_pressure() {
    std::int32_t handles[8];
    std::uint32_t started = 0;
    Status st = Status::ok;
    const std::uint32_t x = 42;
    while (started < 8 && (st = rt->start(kServerAcc, Acc::kMix, &x, 4, &handles[started])) == Status::ok) ++started;
    std::uint32_t good = 0;
    for (std::uint32_t i = 0; i < started; ++i) {
      std::uint32_t y = 0, len = 0;
      if (rt->finish(handles[i], &y, 4, &len) == Status::ok && y == Acc::mix(42)) ++good;
    }
    // started | good | blocked-status
    return started | (good << 8) | (static_cast<std::uint32_t>(st) << 16);
  }

  std::uint32_t zero_copy() {
    std::uint32_t bad = 0;
    for (int i = 0; i < 64; ++i) aligned[i] = std::byte(i * 3 + 1);
    std::uint32_t sum = 0, len = 0;
    if (rt->call_buffer(kServerAcc, Acc::kChecksum, aligned, 64, &sum, 4, &len) != Status::ok ||
        sum != Acc::fnv1a(aligned, 64))
      ++bad;
    // Not shareable (misaligned, odd size): copied instead, same answer.
    if (rt->call_buffer(kServerAcc, Acc::kChecksum, aligned + 4, 40, &sum, 4, &len) != Status::ok ||
        sum != Acc::fnv1a(aligned + 4, 40))
      ++bad;
    // The kernel group reads it in place.
    if (rt->call_buffer(kKernelAcc, Acc::kChecksum, aligned, 64, &sum, 4, &len) != Status::ok ||
        sum != Acc::fnv1a(aligned, 64))
      ++bad;
    return bad;
  }

  std::uint32_t scribble() {
    std::uint32_t out = 0, len = 0;
    // The rogue may only read the shared buffer: its write faults, we get an error back.
    const Status st = rt->call_buffer(kRogueAcc, Acc::kScribble, aligned, 64, &out, 4, &len);
    return static_cast<std::uint32_t>(st) | (aligned[0] != std::byte{0} ? 0x100u : 0u);
  }

  std::uint32_t same() {
    std::uint32_t diffs = 0;
    std::byte data[48];
    for (std::uint32_t round = 0; round < 20; ++round) {
      for (std::uint32_t i = 0; i < sizeof data; ++i) data[i] = std::byte((round * 31 + i * 7) & 0xFF);
      std::uint32_t a[5] = {}, b[5] = {}, la = 0, lb = 0;
      const Status sa = rt->call(kKernelAcc, Acc::kStats, data, sizeof data, a, sizeof a, &la);
      const Status sb = rt->call(kServerTwin, Acc::kStats, data, sizeof data, b, sizeof b, &lb);
      if (sa != sb || la != lb || std::memcmp(a, b, sizeof a) != 0) ++diffs;
    }
    return diffs;
  }

  // Hostile direct-call descriptors: each must be declined without the kernel touching the
  // memory they name. Returns a bit per case that behaved.
  std::uint32_t direct_probe() {
    std::uint32_t ok = 0, y = 0;
    const std::uint32_t x = 5;
    const auto secret = reinterpret_cast<std::uint32_t>(&g_kernel_secret);
    const std::uint32_t mix = kServerAcc | (std::uint32_t{Acc::kMix} << 16);
    DirectCall d{mix, secret, 4, reinterpret_cast<std::uint32_t>(&y), 4, 0, 0, 0};  // arg: kernel's
    if (sys::call_direct(&d) == kDirectDeclined && d.done == 0) ok |= 1;
    d = DirectCall{mix, reinterpret_cast<std::uint32_t>(&x), 4, secret, 4, 0, 0, 0};  // result: kernel's
    if (sys::call_direct(&d) == kDirectDeclined && d.done == 0) ok |= 2;
    if (sys::call(kSysCall, secret) == kDirectDeclined) ok |= 4;                  // descriptor: kernel's
    d = DirectCall{mix, reinterpret_cast<std::uint32_t>(&x), 65, reinterpret_cast<std::uint32_t>(&y), 4, 0, 0, 0};
    if (sys::call_direct(&d) == kDirectDeclined && d.done == 0) ok |= 8;          // too long
    d = DirectCall{mix, reinterpret_cast<std::uint32_t>(&x), 4, reinterpret_cast<std::uint32_t>(&y), 4, 0, 0, 0};
    if (sys::call_direct(&d) == kDirectAccepted) {                                // the honest one
      while (d.done == 0) {
        if (!rt->poll()) rt->wait();
      }
      if (d.status == static_cast<std::uint32_t>(Status::ok) && d.result_len == 4 && y == Acc::mix(5)) ok |= 16;
    }
    return ok;
  }

  // Calls under a procedure mask (kMaskedGrant) over the direct path and over the ring, for a
  // user-group and a kernelized callee. Returns a bit per call that got the expected answer:
  // allowed calls reach the service (kMix answers; an envelope call, a method the Accumulator
  // does not know, answers not_found), the others are refused with access_denied.
  std::uint32_t procedures() {
    std::uint32_t ok = 0, bit = 1;
    const auto expect = [&](Status got, Status want) {
      if (got == want) ok |= bit;
      bit <<= 1;
    };
    const std::uint32_t x = 5;
    const std::byte allowed_envelope[4] = {std::byte{0xAA}, std::byte{0}, std::byte{5}, std::byte{0}};
    const std::byte refused_envelope[4] = {std::byte{0xAA}, std::byte{0}, std::byte{7}, std::byte{0}};
    for (std::uint16_t target : {kMaskedAcc, kMaskedKernel}) {
      std::uint32_t y = 0, len = 0;
      expect(rt->call(target, Acc::kMix, &x, 4, &y, 4, &len), Status::ok);
      expect(y == Acc::mix(5) ? Status::ok : Status::internal, Status::ok);
      expect(rt->call(target, Acc::kAdd, &x, 4, &y, 4, &len), Status::access_denied);
      expect(rt->call(target, kEnvelope, allowed_envelope, 4, &y, 4, &len), Status::not_found);
      expect(rt->call(target, kEnvelope, refused_envelope, 4, &y, 4, &len), Status::access_denied);
      expect(rt->call(target, kEnvelope, refused_envelope, 2, &y, 4, &len), Status::access_denied);  // no field
      // The ring path: start + finish never take the direct call.
      const auto ring = [&](std::uint16_t method, const void* arg) {
        std::int32_t h = -1;
        std::uint32_t out = 0, n = 0;
        const Status st = rt->start(target, method, arg, 4, &h);
        return st != Status::ok ? st : rt->finish(h, &out, 4, &n);
      };
      expect(ring(Acc::kMix, &x), Status::ok);
      expect(ring(Acc::kAdd, &x), Status::access_denied);
      expect(ring(kEnvelope, allowed_envelope), Status::not_found);
      expect(ring(kEnvelope, refused_envelope), Status::access_denied);
      // An envelope by reference: copied (not shared, the caller could rewrite it), then checked.
      std::memcpy(aligned, refused_envelope, 4);
      expect(rt->call_buffer(target, kEnvelope, aligned, 64, &y, 4, &len), Status::access_denied);
      std::memcpy(aligned, allowed_envelope, 4);
      expect(rt->call_buffer(target, kEnvelope, aligned, 64, &y, 4, &len), Status::not_found);
    }
    return ok;
  }

  static Status handle(void* self, ServiceCall& c) {
    auto& d = *static_cast<Driver*>(self);
    std::uint32_t arg = 0, out = 0;
    if (c.arg_len >= 4) std::memcpy(&arg, c.arg, 4);
    switch (c.method) {
      case kLoad: out = d.load(arg, d.rt->boot().group_id); break;
      case kBackPressure: out = d.back_pressure(); break;
      case kZeroCopy: out = d.zero_copy(); break;
      case kScribble: out = d.scribble(); break;
      case kSame: out = d.same(); break;
      case kFaultMidCall: {
        // A call in flight, then this group faults: the late response must be dropped.
        std::int32_t h;
        const std::uint32_t x = 9;
        d.rt->start(kServerAcc, Acc::kMix, &x, 4, &h);
        *reinterpret_cast<volatile std::uint32_t*>(arg) = 1;  // arg: an address it may not touch
        break;
      }
      case kRogueRecurse: {  // a direct call whose callee overflows its stack
        const std::uint32_t depth = 1000;
        std::uint32_t y = 0, len = 0;
        out = static_cast<std::uint32_t>(d.rt->call(kRogueAcc, Acc::kRecurse, &depth, 4, &y, 4, &len));
        break;
      }
      case kRogueSpin: {  // a direct call whose callee never answers
        const std::uint32_t x = 0;
        std::uint32_t y = 0, len = 0;
        out = static_cast<std::uint32_t>(d.rt->call(kRogueAcc, Acc::kSpin, &x, 4, &y, 4, &len));
        break;
      }
      case kDirectProbe: out = d.direct_probe(); break;
      case kProcedures: out = d.procedures(); break;
      case kForbidden: {
        std::uint32_t y, len;
        out = static_cast<std::uint32_t>(d.rt->call(kDriverBase + kFirstClient, kLoad, &arg, 4, &y, 4, &len));
        break;
      }
      default: return Status::not_found;
    }
    std::memcpy(c.result, &out, 4);
    c.result_len = 4;
    return Status::ok;
  }
};

// In the server group, an instance that may not be re-entered: each call blocks in a call to
// client2's driver, a load of calls back into this group's other instances. It says it is busy
// either through its binding's predicate (as a lidl RingServer while it serves; argument word 1
// = 0) or by marking its outgoing call GroupRuntime::CallFrom (as the generated transports do
// for a start() or a spawned task; word 1 = 1). The result: how often it was entered while busy
// | bad results << 8.
constexpr std::uint16_t kRelay = 15;
constexpr int kRelayDriver = kFirstClient + 2;
struct Relay {
  GroupRuntime* rt;
  std::uint32_t active = 0, reentered = 0;
  bool by_predicate = true;

  static bool busy(void* self) {
    const auto& r = *static_cast<Relay*>(self);
    return r.by_predicate && r.active != 0;
  }
  static Status handle(void* self, ServiceCall& c) {
    auto& r = *static_cast<Relay*>(self);
    if (r.active != 0) ++r.reentered;
    ++r.active;
    std::uint32_t n = 0, mode = 0, bad = 0xFF, len = 0;
    if (c.arg_len >= 4) std::memcpy(&n, c.arg, 4);
    if (c.arg_len >= 8) std::memcpy(&mode, static_cast<const std::byte*>(c.arg) + 4, 4);
    r.by_predicate = mode == 0;
    Status st;
    {
      const GroupRuntime::CallFrom from(*r.rt, mode == 0 ? kNoInstance : kRelay);
      st = r.rt->call(static_cast<std::uint16_t>(kDriverBase + kRelayDriver), Driver::kLoad, &n, 4, &bad, 4, &len);
    }
    --r.active;
    const std::uint32_t out = r.reentered | ((st == Status::ok && len == 4 ? bad : 0xFFu) << 8);
    std::memcpy(c.result, &out, 4);
    c.result_len = 4;
    return Status::ok;
  }
};

void server_entry(const GroupBoot* boot) {
  GroupRuntime& rt = GroupRuntime::create(boot);
  auto* relay = rt.make<Relay>();
  relay->rt = &rt;
  rt.serve(kRelay, ServiceBinding{&Relay::handle, relay, &Relay::busy});
  rt.serve(kServerAcc, rt.make<Acc>()->binding());
  rt.serve(kServerTwin, rt.make<Acc>()->binding());
  rt.serve(kMaskedAcc, rt.make<Acc>()->binding());
  rt.serve_forever();
}

void rogue_entry(const GroupBoot* boot) {
  GroupRuntime& rt = GroupRuntime::create(boot);
  rt.serve(kRogueAcc, rt.make<Acc>()->binding());
  rt.serve_forever();
}

void client_entry(const GroupBoot* boot) {
  GroupRuntime& rt = GroupRuntime::create(boot);
  auto* d = rt.make<Driver>();
  d->rt = &rt;
  d->aligned = static_cast<std::byte*>(rt.allocate(64, 64));
  rt.serve(static_cast<std::uint16_t>(kDriverBase + boot->group_id), ServiceBinding{&Driver::handle, d});
  rt.serve_forever();
}

// Its objects live at the region start (where .ambience.group.<name> would be placed); the
// entry rebuilds them at every start, the runtime area follows.
void planned_entry(const GroupBoot* boot) {
  GroupRuntime& rt = GroupRuntime::create(boot);
  auto* acc = new (g_planned_region) Acc();
  acc->sum = 1000;
  rt.serve(kPlannedAcc, acc->binding());
  rt.serve_forever();
}

Supervisor& setup() {
  static bool done = false;
  Supervisor& s = Supervisor::instance();
  if (done) return s;
  done = true;
  s.add_group({"server", g_server_mem, kStack, kState, &server_entry});
  GroupConfig rogue{"rogue", g_rogue_mem, kStack, kState, &rogue_entry};
  rogue.call_budget_ms = 50;  // watchdog
  s.add_group(rogue);
  s.add_group({"client0", g_client0_mem, kStack, kState, &client_entry});
  s.add_group({"client1", g_client1_mem, kStack, kState, &client_entry});
  s.add_group({"client2", g_client2_mem, kStack, kState, &client_entry});
  GroupConfig planned{"planned", g_planned_region, kStack, kState, &planned_entry};
  planned.region_bytes = sizeof g_planned_region;
  planned.objects_bytes = kPlannedObjects;
  if (s.add_group(planned) != kPlanned) fatal("test setup: group ids");
  s.bind_group_instance(kPlannedAcc, kPlanned);
  s.bind_group_instance(kServerAcc, kServer);
  s.bind_group_instance(kRelay, kServer);
  s.allow(kServer, static_cast<std::uint16_t>(kDriverBase + kRelayDriver));
  s.bind_group_instance(kServerTwin, kServer);
  s.bind_group_instance(kRogueAcc, kRogue);
  s.bind_kernel_instance(kKernelAcc, g_kernel_acc.binding());
  s.bind_group_instance(kMaskedAcc, kServer);
  s.bind_kernel_instance(kMaskedKernel, g_masked_kernel.binding());
  s.set_procedure_field(ProcedureField{kEnvelope, 2, 1});
  s.allow(kFirstClient, kMaskedAcc, kMaskedGrant);
  s.allow(kFirstClient, kMaskedKernel, kMaskedGrant);
  for (int c = 0; c < kClients; ++c) {
    const int g = kFirstClient + c;
    s.bind_group_instance(static_cast<std::uint16_t>(kDriverBase + g), g);
    for (std::uint16_t i : {kServerAcc, kRogueAcc, kKernelAcc, kServerTwin}) s.allow(g, i);
  }
  s.start();
  return s;
}

std::uint32_t call_u32(std::uint16_t instance, std::uint16_t method, std::uint32_t arg, Status* st) {
  std::uint32_t out = 0, len = 0;
  *st = Supervisor::instance().call(instance, method, &arg, 4, &out, 4, &len);
  return out;
}

std::uint32_t drive(int client, std::uint16_t method, std::uint32_t arg = 0) {
  Status st;
  const std::uint32_t r = call_u32(static_cast<std::uint16_t>(kDriverBase + client), method, arg, &st);
  return st == Status::ok ? r : 0xFFFFFFFFu;
}

}  // namespace

AMBIENCE_TEST(layout_is_computed_at_build_time) {
  Supervisor& s = setup();
  s.print_layout();
  println("layout group_runtime_bytes=", sizeof(GroupRuntime));  // part of every group's state
  static_assert(sizeof(GroupRuntime) <= 384, "README promises the runtime fits 384 bytes of state");
  static_assert(group_region(kStack, kState).size == 4096, "ring+boot+state+stack fit 4 KiB");
  for (int g = 0; g < kPlanned; ++g) {  // the groups sized from their budget
    const RegionFit f = s.region(g);
    CHECK_EQ(f.size, 4096u);
    CHECK_EQ(f.waste, f.size - group_needed_bytes(kStack, kState));
  }
  CHECK_EQ(reinterpret_cast<std::uintptr_t>(g_server_mem) % 4096, 0u);
}

AMBIENCE_TEST(planned_region_with_linker_placed_objects) {
  Supervisor& s = setup();
  const RegionFit f = s.region(kPlanned);
  CHECK_EQ(f.size, 8192u);
  CHECK_EQ(f.needed, kPlannedObjects + group_needed_bytes(kStack, kState));
  CHECK_EQ(f.waste, 8192u - f.needed);
  Status st;
  CHECK_EQ(call_u32(kPlannedAcc, Acc::kAdd, 1, &st), 1001u);
  CHECK_EQ(st, Status::ok);
  s.restart_group(kPlanned, "test");
  CHECK_EQ(call_u32(kPlannedAcc, Acc::kAdd, 2, &st), 1002u);  // objects rebuilt by the entry
}

AMBIENCE_TEST(kernel_calls_a_user_group) {
  setup();
  Status st;
  CHECK_EQ(call_u32(kServerAcc, Acc::kAdd, 5, &st), 5u);
  CHECK_EQ(st, Status::ok);
  CHECK_EQ(call_u32(kServerAcc, Acc::kAdd, 7, &st), 12u);
  CHECK_EQ(call_u32(kServerAcc, Acc::kMix, 99, &st), Acc::mix(99));
  CHECK_EQ(call_u32(kServerAcc, 77, 0, &st), 0u);
  CHECK_EQ(st, Status::not_found);
}

AMBIENCE_TEST(group_touching_other_memory_faults_and_restarts_while_others_serve) {
  Supervisor& s = setup();
  Status st;
  CHECK_EQ(call_u32(kRogueAcc, Acc::kAdd, 40, &st), 40u);
  // Writing into another group's region.
  const auto target = reinterpret_cast<std::uint32_t>(&g_server_mem[2000]);
  call_u32(kRogueAcc, Acc::kPoke, target, &st);
  CHECK_EQ(st, Status::peer_restarted);
  CHECK_EQ(s.stats(kRogue).faults, 1u);
  CHECK_EQ(s.stats(kRogue).last_fault_address, target);
  // The server kept its state and keeps serving.
  CHECK_EQ(call_u32(kServerAcc, Acc::kAdd, 1, &st), 13u);
  CHECK_EQ(st, Status::ok);
  // Reading the kernel's memory.
  call_u32(kRogueAcc, Acc::kPeek, reinterpret_cast<std::uint32_t>(&g_kernel_secret), &st);
  CHECK_EQ(st, Status::peer_restarted);
  CHECK_EQ(s.stats(kRogue).faults, 2u);
  CHECK_EQ(s.stats(kRogue).last_fault_address, reinterpret_cast<std::uint32_t>(&g_kernel_secret));
  // Writing a peripheral (the console UART) is no better.
  call_u32(kRogueAcc, Acc::kPoke, 0x40004000u, &st);
  CHECK_EQ(st, Status::peer_restarted);
  CHECK_EQ(s.stats(kRogue).restarts, 3u);
  CHECK_EQ(g_kernel_secret, 0x5EC12E7u);
  // Restarted from a clean region: the sum starts over.
  CHECK_EQ(call_u32(kRogueAcc, Acc::kAdd, 3, &st), 3u);
  CHECK_EQ(call_u32(kServerAcc, Acc::kAdd, 1, &st), 14u);
}

AMBIENCE_TEST(usage_fault_in_a_group_is_recovered_too) {
  Supervisor& s = setup();
  const std::uint32_t faults = s.stats(kRogue).faults;
  Status st;
  call_u32(kRogueAcc, Acc::kUndefined, 0, &st);
  CHECK_EQ(st, Status::peer_restarted);
  CHECK_EQ(s.stats(kRogue).faults, faults + 1);
  CHECK_EQ(call_u32(kRogueAcc, Acc::kAdd, 4, &st), 4u);
}

AMBIENCE_TEST(caller_that_faults_with_a_call_in_flight_is_restarted_cleanly) {
  Supervisor& s = setup();
  const int client = kFirstClient + 1;
  const std::uint32_t restarts = s.stats(client).restarts;
  Status st;
  call_u32(static_cast<std::uint16_t>(kDriverBase + client), Driver::kFaultMidCall,
           reinterpret_cast<std::uint32_t>(&g_kernel_secret), &st);
  CHECK_EQ(st, Status::peer_restarted);
  CHECK_EQ(s.stats(client).restarts, restarts + 1);
  CHECK_EQ(g_kernel_secret, 0x5EC12E7u);
  // The server answered into the void (old generation) and keeps serving; the client works.
  CHECK_EQ(call_u32(kServerAcc, Acc::kMix, 9, &st), Acc::mix(9));
  CHECK_EQ(drive(client, Driver::kLoad, 20), 0u);
}

AMBIENCE_TEST(spinning_group_is_preempted_and_its_watchdog_restarts_it) {
  Supervisor& s = setup();
  struct Done {
    bool done = false;
    Status st = Status::ok;
  } spin;
  const std::uint32_t x = 0;
  std::uint32_t out = 0;
  const std::uint32_t restarts = s.stats(kRogue).restarts;
  CHECK_EQ(s.submit(
               kRogueAcc, Acc::kSpin, &x, 4, &out, 4,
               [](void* c, Status st, std::uint32_t) {
                 static_cast<Done*>(c)->done = true;
                 static_cast<Done*>(c)->st = st;
               },
               &spin),
           Status::ok);
  Status st;
  // Others keep serving while it spins (it is preempted every time slice).
  // (The watchdog may already fire during these calls: QEMU time follows the host's load.)
  for (std::uint32_t i = 0; i < 5; ++i) CHECK_EQ(call_u32(kServerAcc, Acc::kMix, i, &st), Acc::mix(i));
  // Its caller gets an error, not a hang: the 50 ms call budget restarts it.
  s.run_until([&] { return spin.done; });
  CHECK_EQ(spin.st, Status::peer_restarted);
  CHECK(s.stats(kRogue).preemptions > 0);
  CHECK_EQ(s.stats(kRogue).restarts, restarts + 1);
  CHECK_EQ(call_u32(kRogueAcc, Acc::kAdd, 2, &st), 2u);
  // The kernel can also restart a group on its own decision.
  s.restart_group(kRogue, "operator");
  CHECK_EQ(s.stats(kRogue).restarts, restarts + 2);
  CHECK_EQ(call_u32(kRogueAcc, Acc::kAdd, 5, &st), 5u);
}

AMBIENCE_TEST(stack_overflow_faults_at_the_region_boundary) {
  Supervisor& s = setup();
  const std::uint32_t faults = s.stats(kRogue).faults;
  Status st;
  CHECK_EQ(call_u32(kRogueAcc, Acc::kRecurse, 4, &st), 1u + 4 + 3 + 2 + 1);
  call_u32(kRogueAcc, Acc::kRecurse, 1000, &st);  // ~80 KiB of frames in a 1.5 KiB stack
  CHECK_EQ(st, Status::peer_restarted);
  CHECK_EQ(s.stats(kRogue).faults, faults + 1);
  const auto base = reinterpret_cast<std::uint32_t>(g_rogue_mem);
  CHECK(s.stats(kRogue).last_fault_address < base);  // just below the region: the guard works
  CHECK_EQ(call_u32(kServerAcc, Acc::kMix, 3, &st), Acc::mix(3));
}

AMBIENCE_TEST(group_scribbling_over_its_ring_is_restarted) {
  Supervisor& s = setup();
  const std::uint32_t restarts = s.stats(kRogue).restarts;
  // The consumer cursor of the kernel->group ring lives in the rogue's own region: it may write
  // it, and the kernel must notice instead of trusting it.
  const auto layout = ipc::RingLayout::of(kGroupRing);
  const auto cursor = reinterpret_cast<std::uint32_t>(g_rogue_mem + group_ring_offset(kStack) + layout.ring_offset[0] +
                                                      ipc::kCacheLine);
  Status st;
  call_u32(kRogueAcc, Acc::kPoke, cursor, &st);
  CHECK_EQ(st, Status::ok);  // the write itself is allowed: its own memory
  call_u32(kRogueAcc, Acc::kAdd, 1, &st);
  CHECK_EQ(st, Status::peer_restarted);
  CHECK_EQ(s.stats(kRogue).restarts, restarts + 1);
  CHECK_EQ(call_u32(kRogueAcc, Acc::kAdd, 6, &st), 6u);
  CHECK_EQ(call_u32(kServerAcc, Acc::kMix, 4, &st), Acc::mix(4));
}

AMBIENCE_TEST(round_trips_stay_correct_under_load_from_several_groups) {
  Supervisor& s = setup();
  struct Job {
    bool done = false;
    Status st = Status::internal;
    std::uint32_t bad = 0xFFFF;
  } jobs[kClients];
  const std::uint32_t n = 300;
  for (int c = 0; c < kClients; ++c) {
    CHECK_EQ(s.submit(
                 static_cast<std::uint16_t>(kDriverBase + kFirstClient + c), Driver::kLoad, &n, 4, &jobs[c].bad, 4,
                 [](void* ctx, Status st, std::uint32_t) {
                   static_cast<Job*>(ctx)->done = true;
                   static_cast<Job*>(ctx)->st = st;
                 },
                 &jobs[c]),
             Status::ok);
  }
  s.run_until([&] { return jobs[0].done && jobs[1].done && jobs[2].done; });
  for (int c = 0; c < kClients; ++c) {
    CHECK_EQ(jobs[c].st, Status::ok);
    CHECK_EQ(jobs[c].bad, 0u);
    CHECK(s.stats(kFirstClient + c).calls_routed >= n);
    // Most calls took the direct path (the server was waiting), the rest queued on the rings.
    CHECK(s.stats(kFirstClient + c).direct > 0);
  }
}

AMBIENCE_TEST(callee_faulting_during_a_direct_call_fails_it_and_is_restarted) {
  Supervisor& s = setup();
  const std::uint32_t faults = s.stats(kRogue).faults, direct = s.stats(kFirstClient).direct;
  const std::uint32_t r = drive(kFirstClient, Driver::kRogueRecurse);
  CHECK_EQ(static_cast<Status>(r), Status::peer_restarted);
  CHECK_EQ(s.stats(kRogue).faults, faults + 1);
  CHECK_EQ(s.stats(kFirstClient).direct, direct + 1);
  Status st;
  CHECK_EQ(call_u32(kServerAcc, Acc::kMix, 11, &st), Acc::mix(11));
  CHECK_EQ(drive(kFirstClient, Driver::kLoad, 20), 0u);
}

AMBIENCE_TEST(spinning_callee_of_a_direct_call_is_restarted_by_its_watchdog) {
  Supervisor& s = setup();
  const std::uint32_t restarts = s.stats(kRogue).restarts, direct = s.stats(kFirstClient).direct;
  CHECK_EQ(static_cast<Status>(drive(kFirstClient, Driver::kRogueSpin)), Status::peer_restarted);
  CHECK_EQ(s.stats(kRogue).restarts, restarts + 1);
  CHECK_EQ(s.stats(kFirstClient).direct, direct + 1);
  Status st;
  CHECK_EQ(call_u32(kRogueAcc, Acc::kAdd, 3, &st), 3u);
}

AMBIENCE_TEST(group_blocked_in_a_direct_call_still_serves_its_ring) {
  Supervisor& s = setup();
  // client0 blocks in a direct call to the rogue, which spins until its watchdog fires ...
  struct Done {
    bool done = false;
    Status st = Status::internal;
    std::uint32_t out = 0;
  } spin;
  const std::uint32_t zero = 0;
  CHECK_EQ(s.submit(
               static_cast<std::uint16_t>(kDriverBase + kFirstClient), Driver::kRogueSpin, &zero, 4, &spin.out, 4,
               [](void* c, Status st, std::uint32_t) {
                 static_cast<Done*>(c)->done = true;
                 static_cast<Done*>(c)->st = st;
               },
               &spin),
           Status::ok);
  const std::uint32_t direct = s.stats(kFirstClient).direct;
  s.run_until([&] { return s.stats(kFirstClient).direct > direct; });
  // ... meanwhile a request for client0 arrives on its ring: it is woken and serves it (one
  // call: well within the rogue's 50 ms budget, of which each round gives it a 10 ms slice).
  CHECK_EQ(drive(kFirstClient, Driver::kLoad, 1), 0u);
  CHECK(!spin.done);
  s.run_until([&] { return spin.done; });
  CHECK_EQ(spin.st, Status::ok);
  CHECK_EQ(static_cast<Status>(spin.out), Status::peer_restarted);
}

// A request for an instance that is busy (blocked in an outgoing call, its group serving the
// ring meanwhile) is held until the instance returns, then served: never run nested on top of
// the blocked call (a lidl service would wait there, for good, on its own client's gate). The
// group's other instances keep serving meanwhile.
// Both ways an instance says it is busy (see Relay): `mode` is the second argument word.
void busy_instance_holds_requests(::ambience::testing::Context& ambience_test_context_, std::uint32_t mode) {
  Supervisor& s = setup();
  struct Done {
    bool done = false;
    Status st = Status::internal;
    std::uint32_t out = 0xFFFFFFFFu;
    int order = 0;
  } a, b;
  static int finished = 0;
  const Supervisor::Completion done = [](void* c, Status st, std::uint32_t) {
    auto* d = static_cast<Done*>(c);
    d->done = true;
    d->st = st;
    d->order = ++finished;
  };
  const std::uint32_t args[2] = {200, mode};
  const std::uint32_t routed = s.stats(kRelayDriver).calls_routed;
  CHECK_EQ(s.submit(kRelay, 1, args, 8, &a.out, 4, done, &a), Status::ok);
  s.run_until([&] { return s.stats(kRelayDriver).calls_routed > routed + 2; });  // a is blocked in its call
  CHECK(!a.done);
  CHECK_EQ(s.submit(kRelay, 1, args, 8, &b.out, 4, done, &b), Status::ok);
  Status st;
  CHECK_EQ(call_u32(kServerAcc, Acc::kMix, 5, &st), Acc::mix(5));  // the group's other instances serve
  CHECK_EQ(st, Status::ok);
  s.run_until([&] { return a.done && b.done; });
  CHECK(a.st == Status::ok && b.st == Status::ok);
  CHECK_EQ(a.out, 0u);  // never re-entered, every call of the load right
  CHECK_EQ(b.out, 0u);
  CHECK(a.order < b.order);
}

AMBIENCE_TEST(a_busy_instance_is_not_reentered_its_requests_wait_their_turn) {
  busy_instance_holds_requests(ambience_test_context_, 0);
}

// The same for an instance whose coroutine blocks in an outgoing call marked CallFrom.
AMBIENCE_TEST(an_instance_calling_out_is_busy_its_requests_wait_their_turn) {
  busy_instance_holds_requests(ambience_test_context_, 1);
}

AMBIENCE_TEST(direct_call_descriptors_are_validated) {
  Supervisor& s = setup();
  const std::uint32_t secret = g_kernel_secret;
  CHECK_EQ(drive(kFirstClient, Driver::kDirectProbe), 31u);
  CHECK_EQ(g_kernel_secret, secret);
  CHECK(s.stats(kFirstClient).direct > 0);
}

AMBIENCE_TEST(exhausted_ring_gives_back_pressure) {
  Supervisor& s = setup();
  // Kernel -> group: the kernel partition of the server's ring has 4 elements.
  int completed = 0;
  std::uint32_t outs[5];
  const std::uint32_t x = 1;
  auto done = [](void* c, Status, std::uint32_t) { ++*static_cast<int*>(c); };
  for (int i = 0; i < 4; ++i)
    CHECK_EQ(s.submit(kServerAcc, Acc::kMix, &x, 4, &outs[i], 4, done, &completed), Status::ok);
  CHECK_EQ(s.submit(kServerAcc, Acc::kMix, &x, 4, &outs[4], 4, done, &completed), Status::would_block);
  s.run_until([&] { return completed == 4; });
  for (int i = 0; i < 4; ++i) CHECK_EQ(outs[i], Acc::mix(1));
  // Group -> kernel: a client with 4 calls in flight is told to wait.
  const std::uint32_t r = drive(kFirstClient, Driver::kBackPressure);
  CHECK_EQ(r & 0xFF, 4u);                                                  // started
  CHECK_EQ((r >> 8) & 0xFF, 4u);                                           // all answered
  CHECK_EQ(static_cast<Status>(r >> 16), Status::would_block);             // the fifth
}

AMBIENCE_TEST(aligned_buffers_are_shared_read_only_others_copied) {
  Supervisor& s = setup();
  const std::uint32_t zc = s.stats(kServer).zero_copy, copied = s.stats(kServer).copied;
  CHECK_EQ(drive(kFirstClient + 1, Driver::kZeroCopy), 0u);
  CHECK_EQ(s.stats(kServer).zero_copy, zc + 1);
  CHECK_EQ(s.stats(kServer).copied, copied + 1);
  // The callee cannot write into a buffer shared with it.
  const std::uint32_t faults = s.stats(kRogue).faults;
  const std::uint32_t r = drive(kFirstClient + 1, Driver::kScribble);
  CHECK_EQ(static_cast<Status>(r & 0xFF), Status::peer_restarted);
  CHECK_EQ(r & 0x100, 0x100u);  // the caller's buffer is intact
  CHECK_EQ(s.stats(kRogue).faults, faults + 1);
}

AMBIENCE_TEST(kernelized_and_user_group_placements_give_identical_results) {
  Supervisor& s = setup();
  // From a user group: the same calls to both placements.
  CHECK_EQ(drive(kFirstClient + 2, Driver::kSame), 0u);
  // From the kernel: a stateful sequence against both placements.
  Acc fresh_kernel;
  s.bind_kernel_instance(13, fresh_kernel.binding());  // a fresh kernel twin of instance 6
  std::byte data[60];
  for (std::uint32_t round = 0; round < 30; ++round) {
    for (std::uint32_t i = 0; i < sizeof data; ++i) data[i] = std::byte((round * 13 + i * i) & 0xFF);
    std::uint32_t a[5] = {}, b[5] = {}, la = 0, lb = 0;
    const Status sa = s.call(13, Acc::kStats, data, round, a, sizeof a, &la);
    const Status sb = s.call(kServerTwin, Acc::kStats, data, round, b, sizeof b, &lb);
    CHECK_EQ(sa, sb);
    CHECK_EQ(la, lb);
    CHECK(std::memcmp(a, b, sizeof a) == 0);
    std::uint32_t va = 0, vb = 0;
    const std::uint32_t v = round * 1000 + 1;
    s.call(13, Acc::kAdd, &v, 4, &va, 4, &la);
    s.call(kServerTwin, Acc::kAdd, &v, 4, &vb, 4, &lb);
    CHECK_EQ(va, vb);
  }
}

AMBIENCE_TEST(calls_without_a_capability_are_denied) {
  setup();
  CHECK_EQ(static_cast<Status>(drive(kFirstClient, Driver::kForbidden)), Status::access_denied);
}

AMBIENCE_TEST(procedures_outside_the_grant_are_refused_and_counted) {
  Supervisor& s = setup();
  const std::uint32_t denied = s.stats(kFirstClient).denied, kernel_calls = g_masked_kernel.calls;
  const std::uint32_t zero_copy = s.stats(kServer).zero_copy;
  CHECK_EQ(drive(kFirstClient, Driver::kProcedures), (1u << 24) - 1);  // 12 checks per callee
  // Refused: per callee 2 direct (kAdd, envelope 7), 1 without a field, 2 ring, 1 by reference.
  CHECK_EQ(s.stats(kFirstClient).denied, denied + 12);
  // Only the allowed calls reached the kernelized service: 2 direct, 2 ring, 1 by reference.
  CHECK_EQ(g_masked_kernel.calls, kernel_calls + 5);
  // The by-reference envelope was copied, never shared with the callee.
  CHECK_EQ(s.stats(kServer).zero_copy, zero_copy);
  s.print_stats();
}
