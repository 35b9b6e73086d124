// Instructions per cross-node RPC call on a microcontroller, without any UART wait.
//
// One image holds a client RpcNode and a server RpcNode joined by two SerialLinks over in-memory
// byte ports (runtime/rpc/memory_byte_port.hpp): a call of the generated lidl `Calc.add(a, b)`
// pays serialization, envelope, call table, fragmentation, COBS framing + CRC both ways, the
// server's reply cache, grant check and dispatch, and the kernel loop that runs both nodes. Both
// ends run on the same core, so one round trip counts the client's and the server's work.
//
// Baseline in the same run: the same generated client call over a transport that dispatches
// straight to the implementation (serialization + dispatch, no network).
//
// Protection (docs/SECURITY.md): `Calc.echo` of a 64-byte and a 1 KiB request, each on three
// pairs of nodes built alike: unprotected (Protection::off, no keys; the baseline), MAC only
// (PeerKey encrypt=false: a Poly1305 tag over header, security block and body) and MAC + AEAD
// (encrypt=true: XChaCha20-Poly1305 over the body). Each pair makes one warm-up call first (with
// protection, the first call of a session is answered `resync` and re-sealed: one more round trip).
//
// Method (benchmarks/mcu/bench.cc): QEMU `-icount shift=0,sleep=off` (1 virtual ns per executed
// instruction); TIMER0 (CMSDK APB timer, 25 MHz) counts the virtual clock, calibrated in the same
// run against a loop of exactly 400 000 instructions; figures are averaged over kCalls calls.
//
// Prints `RESULT <id>_<cpu> value=... unit=instructions [baseline=... ratio=...]`: the `add` round
// trip, direct dispatch and framing; `unprotected_<size>` (baseline: direct dispatch of the echo),
// `protected_mac_<size>`, `protected_aead_<size>` (baseline: unprotected), size 64 or 1k.
#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "kernel/core/console.hpp"
#include "kernel/core/scheduler.hpp"
#include "kernel/core/task.hpp"
#include "kernel/net/fragment.hpp"
#include "lidl/runtime/rpc.hpp"
#include "platforms/boards/board.hpp"
#include "platforms/boards/cmsdk_timer.hpp"
#include "runtime/rpc/memory_byte_port.hpp"
#include "runtime/rpc/rpc_node.hpp"
#include "runtime/rpc/serial_link.hpp"
#include "runtime/rpc/testdata/calc.lidl.hpp"

using namespace ambience;
namespace net = ambience::net;
namespace rpc = ambience::rpc;
namespace node = ambience::node;

namespace {

constexpr board::CmsdkTimer kTimer{0x40000000};
#ifdef AMBIENCE_MCU_RPC_SMOKE
constexpr std::uint32_t kCalls = 20;
#else
constexpr std::uint32_t kCalls = 1000;
#endif

class CalcImpl final : public rpctest::Calc {
 public:
  Task<std::uint32_t> add(std::uint32_t a, std::uint32_t b) override { co_return a + b; }
  Task<std::uint32_t> bump() override { co_return ++bumps; }
  Task<std::vector<std::uint8_t>> echo(const std::vector<std::uint8_t>& data) override { co_return data; }
  std::uint32_t bumps = 0;
};
CalcImpl g_calc;

Task<Status> serve_calc(std::span<const std::byte> request, lidl::MessageBuffer& reply) {
  co_return co_await dispatch(static_cast<rpctest::Calc&>(g_calc), request, reply);
}

constexpr rpc::NodeName kNodes[] = {{1, "client"}, {2, "server"}};
constexpr rpc::CallerName kCallers[] = {{1, 7, "app@client"}};
constexpr node::RemoteGrant kCalcGrants[] = {{"app@client", node::Grant{~std::uint64_t{0}}}};
const node::ServedObject kServed[] = {{5, "calc", &serve_calc, kCalcGrants}};

// A fixed pair key for client -> server (its value does not change what a call costs). Real
// nodes get theirs from the key store through <node>_keys.cc.
constexpr std::array<std::uint8_t, 32> bench_key() {
  std::array<std::uint8_t, 32> k{};
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::uint8_t>(0xA5 ^ (i * 29));
  return k;
}
constexpr rpc::PeerKey kMacKeys[] = {{1, rpc::kAnyInstance, 2, false, bench_key()}};
constexpr rpc::PeerKey kAeadKeys[] = {{1, rpc::kAnyInstance, 2, true, bench_key()}};

enum class Mode : std::uint8_t { off, mac, aead };
const char* mode_name(Mode m) { return m == Mode::off ? "unprotected" : m == Mode::mac ? "MAC only" : "MAC + AEAD"; }

rpc::RpcTables tables(std::uint16_t this_node, std::span<const node::ServedObject> served, Mode m) {
  if (m == Mode::off) return rpc::RpcTables{this_node, kNodes, kCallers, served, {}, {}, rpc::Protection::off};
  return rpc::RpcTables{
      this_node, kNodes, kCallers, served, {}, m == Mode::mac ? kMacKeys : kAeadKeys, rpc::Protection::required};
}

// The serial link's default fragment (256 bytes, sized for 115200 baud): an `add` is one frame
// each way, a 1 KiB echo five. Messages up to 1152 bytes (a 1 KiB echo's envelope + lidl
// message); every buffer and the reassembler have room for the seal's 32 bytes on top.
constexpr std::size_t kFragment = rpc::SerialLink::kDefaultMaxFragment, kMaxMessage = 1152, kCable = 512;
using Node = rpc::StaticRpcNode<2, 2, 64, 2, kMaxMessage>;
using Reassembly = net::StaticReassembler<kMaxMessage + net::kSealOverhead, 2>;
using Cable = rpc::testing::ByteQueue<kCable>;
using Port = rpc::testing::MemoryBytePort<kCable>;

// A port that also keeps a copy of what it writes while `recording`: the frames of one call,
// for the framing-only figure.
class TapPort final : public rpc::BytePort {
 public:
  explicit TapPort(Port& inner) : inner_(inner) {}
  Task<Status> write(std::span<const std::byte> bytes) override {
    if (recording) {
      for (std::size_t i = 0; i < bytes.size() && recorded < sizeof tape; ++i) tape[recorded++] = bytes[i];
      writes += 1;
    }
    co_return co_await inner_.write(bytes);
  }
  std::size_t read(std::span<std::byte> out) override { return inner_.read(out); }
  bool take_rx_fault() override { return inner_.take_rx_fault(); }
  void notify_on_receive(Runnable* r) override { inner_.notify_on_receive(r); }
  bool recording = false;
  std::byte tape[512];
  std::size_t recorded = 0;
  std::uint32_t writes = 0;

 private:
  Port& inner_;
};

// The whole two-node system; built in main (the links capture the current scheduler).
struct TwoNodes {
  Cable to_server, to_client;
  Port client_port{to_server, to_client}, server_port{to_client, to_server};
  TapPort client_tap{client_port}, server_tap{server_port};
  rpc::StaticSerialLink<kFragment> client_link{client_tap}, server_link{server_tap};
  Reassembly client_in{1'000'000}, server_in{1'000'000};
  Node client, server;
  explicit TwoNodes(Mode m)
      : client{tables(1, {}, m), 0x11110001u, 10'000'000}, server{tables(2, kServed, m), 0x22220001u, 10'000'000} {
    client_port.connect(server_port);
    server_port.connect(client_port);
    client.node().add_network("line", "serial", client_link.link(), client_in);
    server.node().add_network("line", "serial", server_link.link(), server_in);
  }
};

// The client's route to the calculator (object 5 on "server"), as instance 7.
constexpr node::Route kRoute{"line", "serial", "server", 1, "server", 5, 7, 0};

}  // namespace

// Outside the anonymous namespace: the generated client's coroutine frames hold them (GCC's
// -Wsubobject-linkage).
namespace mcu_rpc_bench {

struct NodeTransport {
  rpc::RpcNode* node;
  Task<Status> call(std::span<const std::byte> request, lidl::MessageBuffer& reply) {
    return node->call(kRoute, request, reply);
  }
};

// No network: the request goes straight to the generated dispatcher of the implementation.
struct DirectTransport {
  Task<Status> call(std::span<const std::byte> request, lidl::MessageBuffer& reply) {
    co_return co_await dispatch(static_cast<rpctest::Calc&>(g_calc), request, reply);
  }
};

}  // namespace mcu_rpc_bench

namespace {

using mcu_rpc_bench::DirectTransport;
using mcu_rpc_bench::NodeTransport;

struct Outcome {
  std::uint32_t ticks = 0;
  std::uint32_t wrong = 0;
  bool done = false;
};

// kCalls calls of add(i, x), timed from the first call to the last reply.
template <class Client>
Task<void> time_calls(Client* calc, Outcome* out) {
  std::uint32_t x = 1;
  const std::uint32_t t0 = kTimer.value();
  for (std::uint32_t i = 0; i < kCalls; ++i) {
    x = x * 1664525u + 1013904223u;
    Result<std::uint32_t> sum = co_await calc->call_add(i, x);
    if (!sum.ok() || sum.value() != i + x) ++out->wrong;
  }
  out->ticks = t0 - kTimer.value();
  out->done = true;
}

template <class Client>
Outcome run(Client& calc) {
  Outcome out;
  (void)spawn(time_calls(&calc, &out));
  Scheduler::current().run_until([&] { return out.done; });
  return out;
}

// calls echoes of `data`, timed from the first call to the last reply; a reply must equal the request.
template <class Client>
Task<void> time_echo(Client* calc, const std::vector<std::uint8_t>* data, std::uint32_t calls, Outcome* out) {
  const std::uint32_t t0 = kTimer.value();
  for (std::uint32_t i = 0; i < calls; ++i) {
    Result<std::vector<std::uint8_t>> back = co_await calc->call_echo(*data);
    if (!back.ok() || back.value() != *data) ++out->wrong;
  }
  out->ticks = t0 - kTimer.value();
  out->done = true;
}

template <class Client>
Outcome run_echo(Client& calc, const std::vector<std::uint8_t>& data, std::uint32_t calls) {
  Outcome out;
  (void)spawn(time_echo(&calc, &data, calls, &out));
  Scheduler::current().run_until([&] { return out.done; });
  return out;
}

// Whether `needle` appears verbatim in what a tap recorded (the test data has no zero byte and
// fits one COBS block, so a payload sent in clear shows up unchanged inside its frame).
bool on_the_line(const TapPort& tap, const std::vector<std::uint8_t>& needle) {
  for (std::size_t at = 0; at + needle.size() <= tap.recorded; ++at) {
    std::size_t i = 0;
    while (i < needle.size() && tap.tape[at + i] == static_cast<std::byte>(needle[i])) ++i;
    if (i == needle.size()) return true;
  }
  return false;
}

__attribute__((noinline)) void dither(std::uint32_t k) {
  if (k == 0) return;
  asm volatile("1: subs %0, %0, #1\n bne 1b\n" : "+r"(k)::"cc");
}

void print_padded(std::string_view s, std::size_t width) {
  print(s);
  for (std::size_t i = s.size(); i < width; ++i) print(" ");
}

// v with `digits` decimals (1..3), rounded.
void print_fixed(double v, int digits = 1) {
  const std::uint32_t scale = digits == 3 ? 1000 : digits == 2 ? 100 : 10;
  const auto all = static_cast<std::uint64_t>(v * scale + 0.5);
  const auto frac = static_cast<std::uint32_t>(all % scale);
  print(all / scale, ".");
  for (std::uint32_t d = scale / 10; d > 1 && frac < d; d /= 10) print("0");
  print(frac);
}

// One call's frames, as recorded on the line, decoded by a StreamDecoder and each decoded
// frame encoded again by encode_stream_frame: what COBS framing + CRC alone cost per call
// (both directions, one encode and one decode of every frame).
net::StaticStreamDecoder<kFragment> g_decoder;
std::byte g_reencoded[net::stream_frame_bound(kFragment)];

std::uint32_t frame_round(const TapPort& a, const TapPort& b) {
  std::uint32_t frames = 0;
  for (const TapPort* t : {&a, &b}) {
    g_decoder.feed({t->tape, t->recorded}, [&](const net::LinkFrame& f) {
      Result<std::size_t> n = net::encode_stream_frame(f.header, f.payload, g_reencoded);
      frames += n.ok() && *n != 0;
    });
  }
  return frames;
}

const char* cpu() { return board::name()[7] == '3' ? "m4" : "m7"; }

}  // namespace

int main() {
  kTimer.start_free_running();
  println("mcu_rpc benchmark on ", board::name(), " (QEMU -icount shift=0: 1 virtual ns per instruction)");
  constexpr std::uint32_t kLoop = 200000;
  const std::uint32_t c0 = kTimer.value();
  dither(kLoop);
  const double per_tick = 2.0 * kLoop / static_cast<double>(c0 - kTimer.value());
  print("calibration: ", 2 * kLoop, " instructions -> ");
  print_fixed(per_tick);
  println(" instructions/tick");

  static TwoNodes nodes{Mode::off};
  NodeTransport over_nodes{&nodes.client.node()};
  DirectTransport direct;
  // Static: the main stack (8 KiB) has no room for two 1 KiB message buffers.
  static lidl::FixedMessageBuffer<kMaxMessage> req, rep;
  rpctest::CalcRpcClient<NodeTransport> remote(over_nodes, req, rep);
  rpctest::CalcRpcClient<DirectTransport> local(direct, req, rep);

  // One warm-up call each (first-use paths: reply-cache source slot, decoder sync).
  {
    Outcome w;
    auto once = [](rpctest::CalcRpcClient<NodeTransport>* c, Outcome* o) -> Task<void> {
      Result<std::uint32_t> s = co_await c->call_add(40, 2);
      o->wrong = !s.ok() || s.value() != 42u;
      o->done = true;
    };
    (void)spawn(once(&remote, &w));
    Scheduler::current().run_until([&] { return w.done; });
    if (w.wrong) {
      println("BENCH FAILED: warm-up call over the nodes went wrong");
      return 1;
    }
  }
  const Outcome base = run(local);
  Outcome rt = run(remote);
  const double base_per_call = base.ticks * per_tick / kCalls;
  const double rt_per_call = rt.ticks * per_tick / kCalls;
  // One more call with the taps on: the exact bytes of one round trip, for the framing figure.
  nodes.client_tap.recording = nodes.server_tap.recording = true;
  {
    Outcome w;
    auto once = [](rpctest::CalcRpcClient<NodeTransport>* c, Outcome* o) -> Task<void> {
      Result<std::uint32_t> s = co_await c->call_add(1, 2);
      o->wrong = !s.ok() || s.value() != 3u;
      o->done = true;
    };
    (void)spawn(once(&remote, &w));
    Scheduler::current().run_until([&] { return w.done; });
    if (w.wrong) ++rt.wrong;
  }
  nodes.client_tap.recording = nodes.server_tap.recording = false;
  const std::uint32_t frames_per_call = frame_round(nodes.client_tap, nodes.server_tap);
  std::uint32_t framed = 0;
  const std::uint32_t f0 = kTimer.value();
  for (std::uint32_t i = 0; i < kCalls; ++i) framed += frame_round(nodes.client_tap, nodes.server_tap);
  const double framing_per_call = (f0 - kTimer.value()) * per_tick / kCalls;
  const bool framing_ok =
      frames_per_call == nodes.client_tap.writes + nodes.server_tap.writes && framed == kCalls * frames_per_call;
  const rpc::LinkCounters& cl = nodes.client_link->counters();
  const rpc::LinkCounters& sl = nodes.server_link->counters();

  println("method: ", kCalls,
          " calls of the generated lidl Calc.add(a: u32, b: u32) -> u32, TIMER0 ticks x calibrated "
          "instructions/tick / calls; round trip = client RpcNode -> SerialLink -> in-memory byte "
          "port -> SerialLink -> server RpcNode (reply cache, grant, dispatch) and back, both ends "
          "on this one core (their instructions add up), no UART wait; baseline = the same "
          "generated call on a transport that dispatches straight to the implementation");
  println("frames: client sent ", static_cast<std::uint32_t>(cl.frames_sent), " (",
          static_cast<std::uint32_t>(cl.bytes_sent), " B on the line), server sent ",
          static_cast<std::uint32_t>(sl.frames_sent), " (", static_cast<std::uint32_t>(sl.bytes_sent), " B), dropped ",
          static_cast<std::uint32_t>(cl.frames_dropped + sl.frames_dropped));
  println("server: requests ", static_cast<std::uint32_t>(nodes.server.node().counters().requests),
          "; wrong results: over the nodes ", rt.wrong, ", direct ", base.wrong);
  println("one call on the line: client wrote ", nodes.client_tap.recorded, " B in ", nodes.client_tap.writes,
          " frame(s), server ", nodes.server_tap.recorded, " B in ", nodes.server_tap.writes,
          " frame(s); framing alone re-decodes and re-encodes those ", frames_per_call, " frames");
  print("direct dispatch (baseline): ");
  print_fixed(base_per_call);
  print(" instructions/call; over two nodes: ");
  print_fixed(rt_per_call);
  print(" instructions/round trip; framing alone: ");
  print_fixed(framing_per_call);
  println(" instructions/call");
  print("RESULT mcu_rpc_call_round_trip_", cpu(), " value=");
  print_fixed(rt_per_call);
  print(" unit=instructions baseline=");
  print_fixed(base_per_call);
  print(" ratio=");
  print_fixed(rt_per_call / base_per_call);
  println();
  print("RESULT mcu_rpc_call_direct_dispatch_", cpu(), " value=");
  print_fixed(base_per_call);
  println(" unit=instructions");
  print("RESULT mcu_rpc_call_framing_only_", cpu(), " value=");
  print_fixed(framing_per_call);
  print(" unit=instructions baseline=");
  print_fixed(rt_per_call);
  print(" ratio=");
  print_fixed(framing_per_call / rt_per_call);
  println();
  bool ok = framing_ok && rt.wrong == 0 && base.wrong == 0 && cl.frames_sent >= kCalls && sl.frames_sent >= kCalls;

  // Protection: the same echo on the unprotected nodes above and on two protected pairs.
  static TwoNodes mac_nodes{Mode::mac}, aead_nodes{Mode::aead};
  TwoNodes* const pairs[] = {&nodes, &mac_nodes, &aead_nodes};
  constexpr Mode kModes[] = {Mode::off, Mode::mac, Mode::aead};
  NodeTransport transports[] = {{&nodes.client.node()}, {&mac_nodes.client.node()}, {&aead_nodes.client.node()}};
  rpctest::CalcRpcClient<NodeTransport> plain_client(transports[0], req, rep), mac_client(transports[1], req, rep),
      aead_client(transports[2], req, rep);
  rpctest::CalcRpcClient<NodeTransport>* const clients[] = {&plain_client, &mac_client, &aead_client};
  constexpr std::size_t kSizes[] = {64, 1024};
  const char* const kSizeIds[] = {"64", "1k"};
  static std::vector<std::uint8_t> payloads[2];
  for (std::size_t z = 0; z < 2; ++z) {
    payloads[z].resize(kSizes[z]);
    // No zero byte (on_the_line), not a constant.
    for (std::size_t i = 0; i < kSizes[z]; ++i) payloads[z][i] = static_cast<std::uint8_t>(1 + (i * 37) % 251);
  }
  println();
  println("protection: Calc.echo(data: bytes) -> bytes of 64 B and 1 KiB, ", kCalls,
          " calls each after warm-up, on three pairs of nodes built alike: unprotected (Protection::off, "
          "no keys; baseline), MAC only (PeerKey encrypt=false), MAC + AEAD (encrypt=true, "
          "XChaCha20-Poly1305); both ends seal and open on this core");
  // First call of each pair (a protected pair's first call is answered resync and re-sealed),
  // then one call of each size more, so the timed calls all run in an established session.
  double first_call[3] = {};
  for (std::size_t m = 0; m < 3; ++m) {
    for (std::size_t z = 0; z < 2; ++z) {
      const Outcome w = run_echo(*clients[m], payloads[z], 1);
      if (z == 0) first_call[m] = w.ticks * per_tick;
      if (w.wrong) {
        println("BENCH FAILED: warm-up echo on the ", mode_name(kModes[m]), " pair went wrong");
        ok = false;
      }
    }
  }
  double echo_direct[2] = {}, echo[3][2] = {};
  for (std::size_t z = 0; z < 2; ++z) {
    const Outcome d = run_echo(local, payloads[z], kCalls);
    echo_direct[z] = d.ticks * per_tick / kCalls;
    ok = ok && d.wrong == 0;
    for (std::size_t m = 0; m < 3; ++m) {
      const Outcome o = run_echo(*clients[m], payloads[z], kCalls);
      echo[m][z] = o.ticks * per_tick / kCalls;
      if (o.wrong) {
        println("BENCH FAILED: ", o.wrong, " wrong echoes of ", kSizes[z], " B on the ", mode_name(kModes[m]), " pair");
        ok = false;
      }
    }
  }
  // One 64-byte call per pair with the taps on: what the line carries (sizes; the request's
  // payload in clear or not).
  bool sealed_as_configured = true;
  for (std::size_t m = 0; m < 3; ++m) {
    TwoNodes& p = *pairs[m];
    p.client_tap.recorded = p.server_tap.recorded = 0;
    p.client_tap.writes = p.server_tap.writes = 0;
    p.client_tap.recording = p.server_tap.recording = true;
    const Outcome o = run_echo(*clients[m], payloads[0], 1);
    p.client_tap.recording = p.server_tap.recording = false;
    const bool clear = on_the_line(p.client_tap, payloads[0]);
    const bool want_clear = kModes[m] != Mode::aead;
    const rpc::RpcCounters& sc = p.server.node().counters();
    const rpc::RpcCounters& cc = p.client.node().counters();
    // A protected pair resyncs exactly once (its first call) and refuses nothing; the
    // unprotected one never resyncs.
    const std::uint32_t want_resyncs = kModes[m] == Mode::off ? 0 : 1;
    const bool counters_ok = sc.resyncs == want_resyncs && sc.auth_failures + cc.auth_failures == 0 &&
                             sc.replays + sc.denied + sc.unauthenticated + cc.unauthenticated == 0;
    println(mode_name(kModes[m]), ": one 64 B echo is ", p.client_tap.recorded, " B on the line to the server, ",
            p.server_tap.recorded, " B back; request payload ", clear ? "in clear" : "not in clear",
            "; server resyncs ", sc.resyncs, ", auth failures ", sc.auth_failures + cc.auth_failures, ", replays ",
            sc.replays);
    if (o.wrong || clear != want_clear || !counters_ok) {
      println("BENCH FAILED: the ", mode_name(kModes[m]), " pair is not protected as configured");
      sealed_as_configured = false;
    }
  }
  ok = ok && sealed_as_configured;

  const char* const kModeIds[] = {"unprotected", "protected_mac", "protected_aead"};
  println();
  println("instructions per echo round trip     64 B                     1 KiB");
  print_padded("direct dispatch (no network)", 30);
  for (std::size_t z = 0; z < 2; ++z) {
    print("  ");
    print_fixed(echo_direct[z]);
  }
  println();
  for (std::size_t m = 0; m < 3; ++m) {
    print_padded(mode_name(kModes[m]), 30);
    for (std::size_t z = 0; z < 2; ++z) {
      print("  ");
      print_fixed(echo[m][z]);
      if (m != 0) {
        print(" (");
        print_fixed(echo[m][z] / echo[0][z], 2);
        print("x, +");
        print_fixed(echo[m][z] - echo[0][z]);
        print(")");
      }
    }
    println();
  }
  print("first call of a pair, 64 B (resync round trip when protected):");
  for (std::size_t m = 0; m < 3; ++m) {
    print(" ", mode_name(kModes[m]), " ");
    print_fixed(first_call[m]);
  }
  println();
  for (std::size_t z = 0; z < 2; ++z) {
    for (std::size_t m = 0; m < 3; ++m) {
      const double baseline = m == 0 ? echo_direct[z] : echo[0][z];
      print("RESULT mcu_rpc_", kModeIds[m], "_", kSizeIds[z], "_", cpu(), " value=");
      print_fixed(echo[m][z]);
      print(" unit=instructions baseline=");
      print_fixed(baseline);
      print(" ratio=");
      print_fixed(echo[m][z] / baseline, 2);
      println();
    }
  }
  print("RESULT mcu_rpc_protected_first_call_aead_64_", cpu(), " value=");
  print_fixed(first_call[2]);
  print(" unit=instructions baseline=");
  print_fixed(echo[2][0]);
  print(" ratio=");
  print_fixed(first_call[2] / echo[2][0], 2);
  println();
  println(ok ? "BENCH DONE" : "BENCH FAILED");
  return ok ? 0 : 1;
}
