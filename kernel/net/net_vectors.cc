// Prints what the C++ code produces for fixed inputs and for deterministic random traces, one
// record per line, for net_test.py to reproduce with the Python implementation (net.py):
//   cobs <in> <out> | frame <fields...> <payload> <stream> <datagram> | envelope <fields...> <payload> <bytes>
//   sender <max_fragment> <message> <datagram>,... | backoff <policy...> <resend times> <finish>
//   cache <entries> <max_reply> <sources> <age> then admit <source> <call_id> <now> <verdict>
//   reassembly <slots> <max_message> <timeout> then fragment <peer> <now> <datagram> <message or ->
//   sealed <key> <encrypt> <kind> <flags> <call_id> <incarnation> <source> <destination> <caller>
//          <target> <procedure> <status> <seq> <challenge> <body> <message>
//   session then issue <challenge> | check <incarnation> <seq> <challenge> <verdict>
// Byte strings are lowercase hex ("-" for empty).
#include <cstdio>

#include "kernel/net/call_table.hpp"
#include "kernel/net/cobs.hpp"
#include "kernel/net/datagram.hpp"
#include "kernel/net/envelope.hpp"
#include "kernel/net/fragment.hpp"
#include "kernel/net/reply_cache.hpp"
#include "kernel/net/secure.hpp"
#include "kernel/net/stream_framer.hpp"
#include "kernel/net/test_util.hpp"

namespace {

using namespace ambience::net;
using ambience::Result;
using ambience::Status;
using ambience::net::testing::Rng;

void hex(std::span<const std::byte> b) {
  if (b.empty()) std::fputs("-", stdout);
  for (std::byte x : b) std::printf("%02x", std::to_integer<unsigned>(x));
}

std::byte g_a[8192], g_b[8192], g_c[8192];

void cobs_vectors() {
  Rng rng(1);
  for (int n : {0, 1, 2, 253, 254, 255, 256, 508, 600}) {
    for (int density : {0, 10, 128}) {
      for (int i = 0; i < n; ++i)
        g_a[i] = static_cast<int>(rng.below(256)) < density ? std::byte{0} : (rng.byte() | std::byte{1});
      Result<std::size_t> e = cobs_encode({g_a, static_cast<std::size_t>(n)}, g_b);
      std::printf("cobs ");
      hex({g_a, static_cast<std::size_t>(n)});
      std::printf(" ");
      hex({g_b, *e});
      std::printf("\n");
    }
  }
}

void frame_vectors() {
  Rng rng(2);
  for (int k = 0; k < 12; ++k) {
    LinkHeader h;
    const std::size_t size = rng.below(600);
    h.sequence = static_cast<std::uint16_t>(rng.next());
    h.message_id = static_cast<std::uint16_t>(rng.next());
    h.fragment_count = static_cast<std::uint8_t>(1 + rng.below(3));
    h.fragment_index = static_cast<std::uint8_t>(h.fragment_count - 1);
    h.offset = h.fragment_count == 1 ? 0 : 1000u * h.fragment_index;
    h.message_length = static_cast<std::uint32_t>(h.offset + size);
    rng.fill({g_a, size});
    Result<std::size_t> s = encode_stream_frame(h, {g_a, size}, g_b);
    Result<std::size_t> d = encode_datagram(h, {g_a, size}, g_c);
    std::printf("frame %u %u %u %u %u %u ", h.sequence, h.message_id, h.fragment_index, h.fragment_count,
                static_cast<unsigned>(h.offset), static_cast<unsigned>(h.message_length));
    hex({g_a, size});
    std::printf(" ");
    hex({g_b, *s});
    std::printf(" ");
    hex({g_c, *d});
    std::printf("\n");
  }
}

void envelope_vectors() {
  Rng rng(3);
  for (int k = 0; k < 12; ++k) {
    Envelope e;
    e.kind = static_cast<EnvelopeKind>(1 + k % 3);
    e.flags = e.kind == EnvelopeKind::request && (k & 4) ? kFlagIdempotent : 0;
    e.call_id = rng.next() | 1;
    e.sender_incarnation = static_cast<std::uint32_t>(rng.next());
    e.source_node = static_cast<std::uint16_t>(rng.next());
    e.destination_node = static_cast<std::uint16_t>(rng.next());
    e.caller_instance = static_cast<std::uint16_t>(rng.next());
    e.target_instance = static_cast<std::uint16_t>(rng.next());
    e.procedure = static_cast<std::uint16_t>(rng.next());
    e.status = e.kind == EnvelopeKind::error
                   ? static_cast<WireStatus>(1 + rng.below(static_cast<std::uint32_t>(WireStatus::cancelled)))
                   : WireStatus::ok;
    const std::size_t size = e.kind == EnvelopeKind::error ? 0 : rng.below(100);
    rng.fill({g_a, size});
    Result<std::size_t> n = encode_envelope(e, {g_a, size}, g_b);
    std::printf("envelope %u %u %llu %u %u %u %u %u %u %u ", static_cast<unsigned>(e.kind), e.flags,
                static_cast<unsigned long long>(e.call_id), static_cast<unsigned>(e.sender_incarnation), e.source_node,
                e.destination_node, e.caller_instance, e.target_instance, e.procedure, static_cast<unsigned>(e.status));
    hex({g_a, size});
    std::printf(" ");
    hex({g_b, *n});
    std::printf("\n");
  }
}

void sender_vectors() {
  Rng rng(4);
  for (std::size_t max_fragment : {1u, 7u, 100u, 1450u}) {
    for (std::size_t size : {0u, 1u, 99u, 100u, 101u, 250u, 1500u}) {
      if (fragment_count(size, max_fragment) > kMaxFragments) continue;
      rng.fill({g_a, size});
      std::printf("sender %u ", static_cast<unsigned>(max_fragment));
      hex({g_a, size});
      std::printf(" ");
      bool first = true;
      LinkSender(max_fragment, 0x1234).send({g_a, size}, [&](const LinkHeader& h, std::span<const std::byte> p) {
        Result<std::size_t> d = encode_datagram(h, p, g_c);
        if (!first) std::printf(",");
        first = false;
        hex({g_c, *d});
        return Status::ok;
      });
      std::printf("\n");
    }
  }
}

void backoff_vectors() {
  for (bool idempotent : {false, true}) {
    for (const CallPolicy& p : {CallPolicy{10'000, 1'000, 3'000, 4}, CallPolicy{5'000, 700, 700, 9},
                                default_policy(NetworkKind::udp), default_policy(NetworkKind::serial)}) {
      StaticCallTable<1> t(1);
      Result<CallTable::Started> s = t.start(1, idempotent, p, 0);
      (void)s;
      std::printf("backoff %d %llu %llu %llu %u ", idempotent, static_cast<unsigned long long>(p.timeout_us),
                  static_cast<unsigned long long>(p.first_retry_us), static_cast<unsigned long long>(p.max_retry_us),
                  p.max_attempts);
      bool first = true;
      std::uint64_t finished = 0;
      const std::uint64_t step = p.timeout_us / 200;
      for (std::uint64_t now = 0; finished == 0; now += step) {
        t.poll(
            now, [&](const CallTable::Finished&) { finished = now; },
            [&](int, std::uint64_t, void*) {
              std::printf(first ? "%llu" : ",%llu", static_cast<unsigned long long>(now));
              first = false;
            });
      }
      if (first) std::printf("-");
      std::printf(" %llu %llu\n", static_cast<unsigned long long>(finished), static_cast<unsigned long long>(step));
    }
  }
}

void cache_trace() {
  static StaticReplyCache<8, 4, 4> cache(3'000);
  std::printf("cache 8 4 4 3000\n");
  Rng rng(5);
  std::uint32_t next[5] = {1, 1, 1, 1, 1};
  std::uint64_t now = 0;
  struct Pending {
    int entry;
    std::uint16_t source;
    std::uint64_t call_id;
  } pending{-1, 0, 0};
  const auto finish = [&](Pending& p, std::uint64_t at) {
    const std::size_t reply = rng.below(7);  // 5 and 6 bytes are too large to store
    cache.complete(p.entry, Status::ok, {g_a, reply}, at);
    std::printf("complete %u %llu %llu %u\n", p.source, static_cast<unsigned long long>(p.call_id),
                static_cast<unsigned long long>(at), static_cast<unsigned>(reply));
    p.entry = -1;
  };
  for (int k = 0; k < 600; ++k) {
    now += rng.below(200);
    const auto source = static_cast<std::uint16_t>(rng.below(20) == 0 ? 3 + rng.below(2) : rng.below(3));
    std::uint32_t counter = next[source];
    if (rng.below(3) == 0 && counter > 1) {
      counter -= 1 + rng.below(counter - 1 < 8 ? counter - 1 : 8);  // a duplicate or a late one
    } else {
      ++next[source];
    }
    const std::uint64_t call_id = std::uint64_t{source + 10u} << 32 | counter;
    ReplyCache::Admission a = cache.admit(source, call_id, now);
    static const char* names[] = {"execute", "in_progress", "replay", "forgotten", "busy"};
    std::printf("admit %u %llu %llu %s\n", source, static_cast<unsigned long long>(call_id),
                static_cast<unsigned long long>(now), names[static_cast<int>(a.verdict)]);
    if (a.verdict == ReplyCache::Verdict::execute) {
      // Half complete at once, half at the next event (so duplicates meet them executing).
      if (pending.entry >= 0) finish(pending, now);
      pending = Pending{a.entry, source, call_id};
      if (rng.below(2) == 0) finish(pending, now);
    }
  }
}

void reassembly_trace() {
  static StaticReassembler<600, 3> r(2'000);
  std::printf("reassembly 3 600 2000\n");
  Rng rng(6);
  LinkSender senders[3] = {LinkSender(90), LinkSender(130), LinkSender(200)};
  static std::byte queue[40][300];
  static std::size_t sizes[40];
  static std::uint32_t peers[40];
  std::size_t count = 0;
  std::uint64_t now = 0;
  for (int k = 0; k < 250; ++k) {
    now += rng.below(150);
    if (count < 30) {
      const std::uint32_t peer = rng.below(3);
      const std::size_t size = rng.below(700);
      rng.fill({g_a, size});
      senders[peer].send({g_a, size}, [&](const LinkHeader& h, std::span<const std::byte> p) {
        if (rng.below(10) == 0 || count == 40) return Status::ok;  // lost
        Result<std::size_t> d = encode_datagram(h, p, queue[count]);
        sizes[count] = *d;
        peers[count] = peer;
        ++count;
        return Status::ok;
      });
    }
    for (int deliveries = 0; deliveries < 3 && count > 0; ++deliveries) {
      const std::size_t i = rng.below(static_cast<std::uint32_t>(count));
      LinkFrame frame;
      if (decode_datagram({queue[i], sizes[i]}, frame) != LinkError::none) return;
      std::printf("fragment %u %llu ", peers[i], static_cast<unsigned long long>(now));
      hex({queue[i], sizes[i]});
      std::printf(" ");
      std::optional<ReassembledMessage> m = r.accept(peers[i], frame, now);
      if (m) {
        std::printf("+");
        hex(m->bytes);
        r.release(*m);
      } else {
        std::printf("none");
      }
      std::printf("\n");
      if (rng.below(3) != 0) {  // sometimes the datagram stays: delivered again later (duplicate)
        --count;
        for (std::size_t b = 0; b < sizes[count]; ++b) queue[i][b] = queue[count][b];
        sizes[i] = sizes[count];
        peers[i] = peers[count];
      }
    }
  }
}

// Sealed messages with fixed keys: requests, replies and errors, MAC only and encrypted, bodies
// from empty to several ChaCha20 blocks. The flags printed are the envelope's before sealing
// (seal adds authenticated, and encrypted where it applies).
void sealed_vectors() {
  Rng rng(7);
  for (int k = 0; k < 16; ++k) {
    PairKey key;
    for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::uint8_t>(rng.next());
    Envelope e;
    e.kind = static_cast<EnvelopeKind>(1 + k % 3);
    e.flags = e.kind == EnvelopeKind::request && (k & 4) ? kFlagIdempotent : 0;
    e.call_id = rng.next() | 1;
    e.sender_incarnation = static_cast<std::uint32_t>(rng.next());
    e.source_node = static_cast<std::uint16_t>(rng.below(8));
    e.destination_node = static_cast<std::uint16_t>(rng.below(8));
    e.caller_instance = k % 5 == 0 ? 0xFFFF : static_cast<std::uint16_t>(rng.below(4));
    e.target_instance = static_cast<std::uint16_t>(rng.below(16));
    e.procedure = static_cast<std::uint16_t>(rng.below(20));
    e.status = e.kind != EnvelopeKind::error ? WireStatus::ok
               : k % 2                       ? WireStatus::resync
                                             : static_cast<WireStatus>(1 + rng.below(kMaxWireStatus));
    const bool encrypt = (k / 3) % 2 == 1;
    const std::size_t sizes[] = {0, 1, 15, 64, 65, 300};
    const std::size_t size = e.kind == EnvelopeKind::error ? 0 : sizes[k % 6];
    const SecurityBlock block{1 + rng.below(1000), k % 4 == 0 ? 0 : rng.next()};
    rng.fill({g_a, size});
    for (std::size_t i = 0; i < size; ++i) g_b[kSecureBodyAt + i] = g_a[i];
    Result<std::size_t> n = seal(e, block, encrypt, key, g_b, size);
    std::printf("sealed ");
    hex({reinterpret_cast<const std::byte*>(key.data()), key.size()});
    std::printf(" %d %u %u %llu %u %u %u %u %u %u %u %llu %llu ", encrypt, static_cast<unsigned>(e.kind), e.flags,
                static_cast<unsigned long long>(e.call_id), static_cast<unsigned>(e.sender_incarnation), e.source_node,
                e.destination_node, e.caller_instance, e.target_instance, e.procedure, static_cast<unsigned>(e.status),
                static_cast<unsigned long long>(block.seq), static_cast<unsigned long long>(block.challenge));
    hex({g_a, size});
    std::printf(" ");
    hex({g_b, n.ok() ? *n : 0});
    std::printf("\n");
  }
}

// The callee's replay window and challenge logic (ReceiverSession) over a random trace: with
// one session (a node principal) callers of two incarnations; with kMaxCallers (node 0's) one
// more incarnation than there are sessions; fresh, duplicated, late and very old seqs, right and
// wrong challenges.
void session_trace(std::size_t callers, std::uint32_t incarnations, std::uint64_t seed) {
  ReceiverSession r;
  r.allow_callers(callers);
  std::printf("session %zu\n", r.callers());
  Rng rng(seed);
  std::uint64_t issued = 0, seq[8] = {1, 1, 1, 1, 1, 1, 1, 1};
  const auto issue = [&] {
    issued = 1 + rng.next() % 0xFFFF;
    r.issue(issued);
    std::printf("issue %llu\n", static_cast<unsigned long long>(issued));
  };
  static const char* names[] = {"accept", "established", "replay", "resync"};
  for (int k = 0; k < 400; ++k) {
    if (r.challenge() == 0 && rng.below(4) != 0) issue();
    // Mostly the first caller, sometimes the others (another boot, or another console).
    const std::uint32_t who = rng.below(8) == 0 ? 1 + rng.below(incarnations - 1) : 0;
    const std::uint32_t incarnation = 100 + who;
    std::uint64_t s = seq[who];
    switch (rng.below(6)) {
      case 0: s = s > 3 ? s - 1 - rng.below(3) : s; break;      // a duplicate or a late one
      case 1: s = s > 80 ? s - 60 - rng.below(20) : s; break;   // near the edge of the window
      case 2:
        s += rng.below(100);
        seq[who] = s + 1;
        break;     // a jump
      default: seq[who] = s + 1; break;
    }
    const std::uint32_t pick = rng.below(4);
    const std::uint64_t challenge = pick == 0 ? 0 : pick == 1 ? rng.next() % 0xFFFF : issued;
    const ReceiverSession::Verdict v = r.check(incarnation, {s, challenge});
    std::printf("check %u %llu %llu %s\n", static_cast<unsigned>(incarnation), static_cast<unsigned long long>(s),
                static_cast<unsigned long long>(challenge), names[static_cast<int>(v)]);
  }
}

}  // namespace

int main() {
  cobs_vectors();
  frame_vectors();
  envelope_vectors();
  sender_vectors();
  backoff_vectors();
  cache_trace();
  reassembly_trace();
  sealed_vectors();
  session_trace(1, 2, 8);
  session_trace(ReceiverSession::kMaxCallers, ReceiverSession::kMaxCallers + 1, 9);
  return 0;
}
