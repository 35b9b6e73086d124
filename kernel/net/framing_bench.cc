// What framing costs on a microcontroller, in instructions: one 1 KiB payload through
// encode_stream_frame and a StreamDecoder, and through encode_datagram / decode_datagram; and
// sealing / opening a 1 KiB request (secure.hpp), MAC only and encrypted.
//
// Method (the one of benchmarks/mcu/bench.cc): QEMU runs with `-icount shift=0,sleep=off`, so the
// virtual clock advances 1 ns per executed instruction; TIMER0 (CMSDK APB timer, 25 MHz) counts
// it, and the ratio is calibrated in the same run against a loop of exactly 400 000
// instructions. Each figure is averaged over kRuns repetitions. Baseline in the same run: a
// byte-by-byte copy of the same 1 KiB (what touching every byte once costs). The libraries are
// built as every MCU image builds them (-Os, KERNEL_COPTS).
//
// Prints `RESULT <id> value=... unit=instructions [baseline=... ratio=...]` lines.
#include "kernel/core/console.hpp"
#include "kernel/net/call_table.hpp"
#include "kernel/net/crc32.hpp"
#include "kernel/net/datagram.hpp"
#include "kernel/net/fragment.hpp"
#include "kernel/net/reply_cache.hpp"
#include "kernel/net/secure.hpp"
#include "kernel/net/stream_framer.hpp"
#include "platforms/boards/board.hpp"
#include "platforms/boards/cmsdk_timer.hpp"

using namespace ambience;
using namespace ambience::net;

namespace {

constexpr board::CmsdkTimer kTimer{0x40000000};
constexpr std::size_t kPayload = 1024;
constexpr int kRuns = 200;

std::byte g_payload[kPayload];
std::byte g_wire[stream_frame_bound(kPayload)];
std::byte g_copy[kPayload];
StaticStreamDecoder<kPayload> g_decoder;
std::byte g_sealed[sealed_message_size(kPayload)];
std::byte g_plain[kPayload];

__attribute__((noinline)) void dither(std::uint32_t k) {
  if (k == 0) return;
  asm volatile("1: subs %0, %0, #1\n bne 1b\n" : "+r"(k)::"cc");
}

__attribute__((noinline)) void copy_bytes(const std::byte* in, std::byte* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    out[i] = in[i];
    asm volatile("" ::: "memory");  // keep it a byte loop: the compiler would call memcpy
  }
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

const char* cpu() { return board::name()[7] == '3' ? "m4" : "m7"; }

void result(const char* id, double value, double baseline = -1) {
  print("RESULT ", id, "_", cpu(), " value=");
  print_fixed(value);
  print(" unit=instructions");
  if (baseline > 0) {
    print(" baseline=");
    print_fixed(baseline);
    print(" ratio=");
    print_fixed(value / baseline);
  }
  println();
}

// Ticks of TIMER0 (counting down) spent in f, run kRuns times.
template <class F>
std::uint32_t ticks(F&& f) {
  const std::uint32_t t0 = kTimer.value();
  for (int i = 0; i < kRuns; ++i) f();
  return t0 - kTimer.value();
}

}  // namespace

int main() {
  kTimer.start_free_running();
  println("kernel/net framing benchmark on ", board::name(), " (QEMU -icount shift=0: 1 virtual ns per instruction)");
  constexpr std::uint32_t kLoop = 200000;
  const std::uint32_t c0 = kTimer.value();
  dither(kLoop);
  const double per_tick = 2.0 * kLoop / static_cast<double>(c0 - kTimer.value());
  print("calibration: ", 2 * kLoop, " instructions -> ");
  print_fixed(per_tick);
  println(" instructions/tick");

  // Payload: pseudo-random bytes with a zero every ~100 bytes (COBS blocks of typical length).
  std::uint32_t x = 12345;
  for (std::size_t i = 0; i < kPayload; ++i) {
    x = x * 1103515245u + 12345u;
    g_payload[i] = i % 97 == 0 ? std::byte{0} : static_cast<std::byte>((x >> 16) | 1);
  }
  LinkHeader h;
  h.message_length = kPayload;
  std::size_t wire = 0;
  int bad = 0;
  const double per_run = per_tick / kRuns;

  const double copy = ticks([&] { copy_bytes(g_payload, g_copy, kPayload); }) * per_run;
  volatile std::uint32_t sink = 0;
  const double crc = ticks([&] { sink = sink + crc32(g_payload); }) * per_run;
  const double encode = ticks([&] {
                          Result<std::size_t> n = encode_stream_frame(h, g_payload, g_wire);
                          wire = n ? *n : 0;
                        }) *
                        per_run;
  int frames = 0;
  const double decode =
      ticks([&] {
        g_decoder.feed({g_wire, wire}, [&](const LinkFrame& f) { frames += f.payload.size() == kPayload; });
      }) *
      per_run;
  bad += frames != kRuns;
  const double dgram_encode = ticks([&] {
                                Result<std::size_t> n = encode_datagram(h, g_payload, g_wire);
                                wire = n ? *n : 0;
                              }) *
                              per_run;
  const double dgram_decode = ticks([&] {
                                LinkFrame f;
                                bad += decode_datagram({g_wire, wire}, f) != LinkError::none;
                              }) *
                              per_run;

  // Sealing writes the body's ciphertext over it: each run seals the same clear body again.
  const PairKey key = {7,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15,
                       16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};
  Envelope e;
  e.call_id = 1;
  std::uint64_t seq = 0;
  const auto refill = [&] {
    for (std::size_t i = 0; i < kPayload; ++i) g_sealed[kSecureBodyAt + i] = g_payload[i];
  };
  const double refilling = ticks(refill) * per_run;  // subtracted from the figures of seal
  double sealing[2] = {0, 0}, opening[2] = {0, 0};
  for (int encrypt = 0; encrypt < 2; ++encrypt) {
    std::size_t sealed = 0;
    sealing[encrypt] = ticks([&] {
                         refill();
                         Result<std::size_t> n = seal(e, {++seq, 1}, encrypt == 1, key, g_sealed, kPayload);
                         sealed = n ? *n : 0;
                       }) * per_run -
                       refilling;
    DecodedEnvelope d;
    bad += decode_envelope({g_sealed, sealed}, d) != EnvelopeError::none;
    opening[encrypt] = ticks([&] {
                         OpenedMessage o;
                         bad += open(d, {g_sealed, sealed}, key, g_plain, o) != OpenError::none;
                       }) *
                       per_run;
  }

  println("method: ", kRuns,
          " runs each, TIMER0 ticks x calibrated instructions/tick / runs; 1 KiB payload "
          "(1046-byte body, ",
          stream_frame_bound(kPayload), "-byte bound); baseline = byte-by-byte copy of 1 KiB");
  println("errors: ", bad, " (0 = every frame decoded intact)");
  result("net_copy_1k_bytewise", copy);
  result("net_crc32_1k", crc, copy);
  result("net_stream_encode_1k", encode, copy);
  result("net_stream_decode_1k", decode, copy);
  result("net_stream_encode_decode_1k", encode + decode, copy);
  result("net_datagram_encode_decode_1k", dgram_encode + dgram_decode, copy);
  result("net_seal_mac_1k", sealing[0], copy);
  result("net_open_mac_1k", opening[0], copy);
  result("net_seal_encrypt_1k", sealing[1], copy);
  result("net_open_encrypt_1k", opening[1], copy);
  // RAM of one serial link and the RPC state of a small MCU node, as sized here.
  using Decoder = StaticStreamDecoder<256>;
  using Reasm = StaticReassembler<1024, 2>;
  using Cache = StaticReplyCache<8, 64, 4>;
  using Calls = StaticCallTable<8>;
  println("RAM: StaticStreamDecoder<256> ", sizeof(Decoder), " B, StaticReassembler<1024, 2> ", sizeof(Reasm),
          " B, StaticReplyCache<8, 64, 4> ", sizeof(Cache), " B, StaticCallTable<8> ", sizeof(Calls), " B");
  println("RESULT net_ram_small_node_", cpu(),
          " value=", sizeof(Decoder) + sizeof(Reasm) + sizeof(Cache) + sizeof(Calls), " unit=bytes");
  println(bad == 0 ? "BENCH DONE" : "BENCH FAILED");
  return bad == 0 ? 0 : 1;
}
