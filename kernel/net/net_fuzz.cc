// Decoder hardening for every entry point of this module that takes bytes from a link:
// cobs_decode, decode_link_body (= decode_datagram), StreamDecoder::feed, Reassembler::accept
// (behind decode_datagram), decode_envelope and open (secure.hpp). Any crash, sanitizer report or
// broken property is a bug. Properties: an accepted link body or envelope re-encodes to exactly
// the same bytes (decoding is canonical); a message that opens with the fuzzer's key re-seals to
// exactly the same bytes, and a sealed message with any byte changed never opens; an accepted COBS encoding re-encodes
// to something that decodes to the same bytes; a frame the stream decoder delivers survives encode + decode unchanged;
// a reassembled message is never longer than the reassembler's maximum.
//
// Two ways to run it:
//   * libFuzzer (clang, ASan, UBSan; AMBIENCE_LIBFUZZER defined): //tests/fuzz:net_fuzz_libfuzzer_test
//     for a bounded run, `bazel run //tests/fuzz:campaign -- --minutes N` for long ones
//   * built-in driver (any compiler; the test): net_fuzz [iterations] [seed] — mutates valid
//     frames, datagrams and envelopes with a deterministic PRNG. Under `bazel test
//     --config=asan //kernel/net:net_fuzz_test` it runs with ASan/UBSan.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "kernel/net/cobs.hpp"
#include "kernel/net/datagram.hpp"
#include "kernel/net/envelope.hpp"
#include "kernel/net/fragment.hpp"
#include "kernel/net/secure.hpp"
#include "kernel/net/stream_framer.hpp"
#include "kernel/net/test_util.hpp"
#include "kernel/testing/fuzz_seeds.hpp"

namespace {

using namespace ambience::net;
using ambience::Result;
using ambience::Status;

[[noreturn]] void broken(const char* what) {
  std::fprintf(stderr, "PROPERTY BROKEN: %s\n", what);
  std::abort();
}

std::byte g_out[70000], g_again[70000];
StaticStreamDecoder<512> g_stream;
StaticReassembler<2048, 4> g_reassembler(1000);
std::uint64_t g_now = 0;

void check_link_body(std::span<const std::byte> in) {
  LinkFrame f;
  if (decode_link_body(in, f) != LinkError::none) return;
  Result<std::size_t> n = encode_datagram(f.header, f.payload, g_again);
  if (!n || *n != in.size() || std::memcmp(g_again, in.data(), in.size()) != 0) broken("link body not canonical");
}

void check_envelope_bytes(std::span<const std::byte> in) {
  DecodedEnvelope d;
  if (decode_envelope(in, d) != EnvelopeError::none) return;
  // An authenticated envelope's tag follows the payload: everything before it is the encoding.
  const std::size_t tag = d.header.auth_tag_length;
  Result<std::size_t> n = encode_envelope(d.header, d.payload, g_again);
  if (!n || *n + tag != in.size() || std::memcmp(g_again, in.data(), *n) != 0) broken("envelope not canonical");
}

constexpr PairKey kFuzzKey = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                              17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
alignas(8) std::byte g_plain[70000], g_reseal[70000];

// Opens the input with kFuzzKey (decrypting into a buffer of its own); whatever opens was sealed
// with that key, so sealing its header, block and body again gives exactly the input.
// Returns whether it opened.
bool check_open(std::span<const std::byte> in) {
  DecodedEnvelope d;
  if (decode_envelope(in, d) != EnvelopeError::none) return false;
  OpenedMessage o;
  if (open(d, in, kFuzzKey, g_plain, o) != OpenError::none) return false;
  if (!o.body.empty()) std::memcpy(g_reseal + kSecureBodyAt, o.body.data(), o.body.size());
  Result<std::size_t> n = seal(d.header, o.block, d.header.encrypted(), kFuzzKey, g_reseal, o.body.size());
  if (!n || *n != in.size() || std::memcmp(g_reseal, in.data(), in.size()) != 0) broken("opened message not canonical");
  return true;
}

void check_cobs(std::span<const std::byte> in) {
  Result<std::size_t> d = cobs_decode(in, g_out);
  if (!d) return;
  Result<std::size_t> e = cobs_encode({g_out, *d}, g_again);
  if (!e) broken("cobs re-encode failed");
  static std::byte back[70000];
  Result<std::size_t> d2 = cobs_decode({g_again, *e}, back);
  if (!d2 || *d2 != *d || std::memcmp(back, g_out, *d) != 0) broken("cobs round trip");
}

void check_stream(std::span<const std::byte> in) {
  g_stream.feed(in, [](const LinkFrame& f) {
    static std::byte wire[stream_frame_bound(512)];
    Result<std::size_t> n = encode_stream_frame(f.header, f.payload, wire);
    if (!n) broken("delivered frame does not re-encode");
    static StaticStreamDecoder<512> again;
    int same = 0;
    again.feed({wire, *n}, [&](const LinkFrame& g) {
      same += g.payload.size() == f.payload.size() &&
              std::memcmp(g.payload.data(), f.payload.data(), f.payload.size()) == 0 &&
              g.header.sequence == f.header.sequence && g.header.message_id == f.header.message_id;
    });
    if (same != 1) broken("stream frame round trip");
  });
}

// The input as datagrams, each preceded by a 2-byte length, through the reassembler.
void check_reassembly(std::span<const std::byte> in) {
  std::size_t i = 0;
  while (i + 2 <= in.size()) {
    const std::size_t len = std::to_integer<std::size_t>(in[i]) | std::to_integer<std::size_t>(in[i + 1]) << 8;
    i += 2;
    const std::size_t take = len < in.size() - i ? len : in.size() - i;
    LinkFrame f;
    if (decode_datagram(in.subspan(i, take), f) == LinkError::none) {
      g_now += 37;
      if (auto m = g_reassembler.accept(0, f, g_now)) {
        if (m->bytes.size() > g_reassembler.max_message()) broken("reassembled message too long");
        g_reassembler.release(*m);
      }
    }
    i += take;
  }
}

void one_input(std::span<const std::byte> in) {
  check_cobs(in);
  check_link_body(in);
  check_envelope_bytes(in);
  (void)check_open(in);
  check_stream(in);
  check_reassembly(in);
}

}  // namespace

#ifdef AMBIENCE_LIBFUZZER
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  one_input({reinterpret_cast<const std::byte*>(data), size});
  return 0;
}
#else
int main(int argc, char** argv) {
  const long iterations = argc > 1 ? std::atol(argv[1]) : 20000;
  testing::Rng rng(argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1);
  static std::byte input[8192], payload[1500];
  static std::byte sealed[8192];
  std::size_t sealed_size = 0;
  LinkSender sender(300);
  long opened = 0;
  for (long it = 0; it < iterations; ++it) {
    // A valid seed of one of the formats, then a few mutations.
    std::size_t n = 0;
    const std::uint32_t kind = rng.below(5);
    const std::size_t size = rng.below(kind == 1 ? 500 : 1200);
    rng.fill({payload, size});
    if (kind == 0 || kind == 1) {  // datagrams with length prefixes / one stream frame
      sender.send({payload, size}, [&](const LinkHeader& h, std::span<const std::byte> p) {
        Result<std::size_t> d = kind == 0 ? encode_datagram(h, p, {input + n + 2, sizeof input - n - 2})
                                          : encode_stream_frame(h, p, {input + n + 2, sizeof input - n - 2});
        if (!d) return d.status();
        input[n] = static_cast<std::byte>(*d & 0xFF);
        input[n + 1] = static_cast<std::byte>(*d >> 8);
        n += 2 + *d;
        return Status::ok;
      });
    } else if (kind == 2) {  // an envelope
      Envelope e;
      e.kind = static_cast<EnvelopeKind>(1 + rng.below(2));
      e.call_id = rng.next() | 1;
      e.destination_node = static_cast<std::uint16_t>(rng.next());
      Result<std::size_t> m = encode_envelope(e, {payload, size}, input);
      n = m ? *m : 0;
    } else if (kind == 3) {  // a COBS encoding
      Result<std::size_t> m = cobs_encode({payload, size}, input);
      n = m ? *m : 0;
    } else {  // a sealed request, reply or error (MAC only or encrypted)
      Envelope e;
      e.kind = static_cast<EnvelopeKind>(1 + rng.below(3));
      e.status = e.kind == EnvelopeKind::error ? WireStatus::resync : WireStatus::ok;
      e.call_id = rng.next() | 1;
      e.sender_incarnation = static_cast<std::uint32_t>(rng.next());
      const std::size_t body = e.kind == EnvelopeKind::error ? 0 : size;
      std::memcpy(input + kSecureBodyAt, payload, body);
      Result<std::size_t> m =
          seal(e, {rng.next() | 1, rng.next()}, rng.below(2) == 0, kFuzzKey, {input, sizeof input}, body);
      n = m ? *m : 0;
      if (!check_open({input, n})) broken("a sealed message does not open");
      std::memcpy(sealed, input, n);
      sealed_size = n;
    }
    ambience::testing::save_fuzz_seed("net", it, 60, input, n);
    const std::uint32_t mutations = rng.below(6);
    for (std::uint32_t k = 0; k < mutations && n > 0; ++k) {
      const std::size_t at = rng.below(static_cast<std::uint32_t>(n));
      switch (rng.below(4)) {
        case 0: input[at] ^= static_cast<std::byte>(1u << rng.below(8)); break;
        case 1: input[at] = rng.byte(); break;
        case 2: n = at; break;  // cut
        default: input[at] = std::byte{0}; break;
      }
    }
    one_input({input, n});
    if (kind == 0 && n > 2) one_input({input + 2, n - 2});  // the first datagram without its prefix
    if (kind == 4 && mutations > 0) {
      // Changed in any way (a cut, a flipped bit), a sealed message never opens.
      const bool same = n == sealed_size && std::memcmp(input, sealed, n) == 0;
      const bool opens = check_open({input, n});
      if (opens != same) broken("a tampered sealed message opened");
      opened += opens;
    }
  }
  std::printf(
      "net_fuzz: %ld inputs, stream frames ok %u, crc errors %u, framing errors %u; reassembled %u; "
      "mutated sealed messages unchanged %ld\n",
      iterations, static_cast<unsigned>(g_stream.counters().frames_ok),
      static_cast<unsigned>(g_stream.counters().crc_errors), static_cast<unsigned>(g_stream.counters().framing_errors),
      static_cast<unsigned>(g_reassembler.counters().messages), opened);
  return 0;
}
#endif
