// Client and server nodes over a simulated UDP link that loses, duplicates, delays and reorders
// datagrams, with every piece of this module in the path: envelope, fragmentation (requests up
// to ~1 KiB over 300-byte datagrams), datagram CRC, reassembly, call table, reply cache.
// Properties: every call ends with a status by its deadline (none hangs); a non-idempotent call
// is executed at most once, and exactly once when its caller saw ok; results are intact.
#include "kernel/net/call_table.hpp"
#include "kernel/net/datagram.hpp"
#include "kernel/net/envelope.hpp"
#include "kernel/net/fragment.hpp"
#include "kernel/net/reply_cache.hpp"
#include "kernel/net/test_util.hpp"
#include "kernel/testing/test.hpp"

namespace {

using namespace ambience::net;
using ambience::Result;
using ambience::Status;
using ambience::net::testing::Rng;

constexpr std::uint16_t kClient = 1, kServer = 2;
constexpr std::uint16_t kAdd = 1;   // non-idempotent: total += sum of the request bytes
constexpr std::uint16_t kEcho = 2;  // @idempotent: returns the request's checksum
constexpr std::size_t kDatagram = 300;
constexpr std::size_t kMaxMessage = 1200;
constexpr int kCalls = 120;
constexpr CallPolicy kPolicy{40'000, 4'000, 16'000, 4};

struct Datagram {
  std::uint64_t deliver_at;
  std::uint16_t to;
  std::uint16_t size;
  std::byte bytes[kDatagram];
};

struct Network {
  static constexpr std::size_t kQueue = 96;
  Datagram queue[kQueue];
  std::size_t count = 0;
  Rng rng{5};
  int loss_percent = 0, dup_percent = 0;
  std::uint32_t dropped_full = 0;
  void send(std::uint16_t to, std::span<const std::byte> d, std::uint64_t now) {
    for (int copy = 0; copy < 2; ++copy) {
      if (copy == 1 && static_cast<int>(rng.below(100)) >= dup_percent) break;
      if (static_cast<int>(rng.below(100)) < loss_percent) continue;
      if (count == kQueue) {
        ++dropped_full;  // a full network queue is loss too
        continue;
      }
      Datagram& q = queue[count++];
      q.deliver_at = now + 200 + rng.below(3000);
      q.to = to;
      q.size = static_cast<std::uint16_t>(d.size());
      for (std::size_t i = 0; i < d.size(); ++i) q.bytes[i] = d[i];
    }
  }
};
Network g_net;

std::uint32_t checksum(std::span<const std::byte> b) {
  std::uint32_t s = 0;
  for (std::byte x : b) s = s * 31 + std::to_integer<std::uint32_t>(x);
  return s;
}

struct Node {
  std::uint16_t id;
  std::uint32_t incarnation;
  LinkSender sender{kDatagram - kLinkOverhead};
  StaticReassembler<kMaxMessage, 6> reassembler{20'000};

  Status send_message(std::uint16_t to, std::span<const std::byte> message, std::uint64_t now) {
    return sender.send(message, [&](const LinkHeader& h, std::span<const std::byte> p) {
      std::byte d[kDatagram];
      Result<std::size_t> n = encode_datagram(h, p, d);
      if (!n) return n.status();
      g_net.send(to, {d, *n}, now);
      return Status::ok;
    });
  }
  Status send_envelope(const Envelope& e, std::span<const std::byte> payload, std::uint64_t now) {
    static std::byte message[kMaxMessage];
    Result<std::size_t> n = encode_envelope(e, payload, message);
    if (!n) return n.status();
    return send_message(e.destination_node, {message, *n}, now);
  }
};

// The call tables and caches live across runs (no heap, no copies), so call ids continue: a run
// numbers its calls from the first id it got.
std::uint32_t g_first_counter = 0;
std::uint32_t index_of(std::uint64_t call_id) {
  const std::uint32_t i = static_cast<std::uint32_t>(call_id) - g_first_counter + 1;
  return i <= kCalls ? i : 0;  // 0: not a call of this run
}

// Server state.
std::uint64_t g_total = 0;
std::uint8_t g_executions[kCalls + 1];
StaticReplyCache<16, 8, 2> g_roomy_cache(kPolicy.timeout_us + 10'000);
StaticReplyCache<3, 8, 2> g_tight_cache(kPolicy.timeout_us + 10'000);
ReplyCache* g_cache = &g_roomy_cache;

void serve(Node& server, const DecodedEnvelope& req, std::uint64_t now) {
  const Envelope& h = req.header;
  ReplyCache::Admission a = g_cache->admit(h.source_node, h.call_id, now);
  std::byte reply[8];
  std::size_t reply_size = 0;
  Status status = a.status;
  switch (a.verdict) {
    case ReplyCache::Verdict::in_progress:
    case ReplyCache::Verdict::forgotten: return;
    case ReplyCache::Verdict::replay:
      for (std::size_t i = 0; i < a.reply.size(); ++i) reply[i] = a.reply[i];
      reply_size = a.reply.size();
      break;
    case ReplyCache::Verdict::busy: break;
    case ReplyCache::Verdict::execute: {
      ++g_executions[index_of(h.call_id)];
      std::uint64_t value = 0;
      if (h.procedure == kAdd) {
        for (std::byte b : req.payload) g_total += std::to_integer<std::uint32_t>(b);
        value = g_total;
      } else {
        value = checksum(req.payload);
      }
      for (int i = 0; i < 8; ++i) reply[i] = static_cast<std::byte>(value >> (8 * i));
      reply_size = 8;
      status = Status::ok;
      g_cache->complete(a.entry, status, {reply, reply_size}, now);
      break;
    }
  }
  server.send_envelope(reply_to(h, status, server.incarnation), {reply, status == Status::ok ? reply_size : 0}, now);
}

struct ClientCall {
  bool idempotent = false;
  bool finished = false;
  Status status = Status::internal;
  std::uint16_t size = 0;
  std::uint32_t expected_checksum = 0;
  std::uint64_t started_at = 0, finished_at = 0;
  std::uint64_t value = 0;
};
ClientCall g_calls[kCalls + 1];
std::byte g_request[kMaxMessage];

void request_bytes(std::uint32_t call, std::size_t size) {
  Rng r(call);
  r.fill({g_request, size});
}

struct Outcome {
  int ok = 0, failed = 0, hung = 0, late = 0, executed_twice = 0, ok_not_executed = 0, wrong_value = 0;
};

Outcome run(int loss, int dup, std::size_t max_request = kMaxMessage - kEnvelopeSize,
            ReplyCache& cache = g_roomy_cache) {
  g_cache = &cache;
  g_net = Network{};
  g_net.loss_percent = loss;
  g_net.dup_percent = dup;
  g_total = 0;
  for (auto& e : g_executions) e = 0;
  for (auto& c : g_calls) c = ClientCall{};
  static Node client{kClient, 0x1111};
  static Node server{kServer, 0x2222};
  static StaticCallTable<6> table(0x3333);
  Rng rng(1234 + static_cast<std::uint64_t>(loss));
  Outcome out;
  int next_call = 1;
  static std::uint64_t now = 0;  // one clock for all runs: the caches and tables persist
  const std::uint64_t run_start = now;
  const auto on_finished = [&](const CallTable::Finished& f) {
    ClientCall& c = g_calls[index_of(f.call_id)];
    c.finished = true;
    c.status = f.status;
    c.finished_at = now;
  };
  const auto resend = [&](int, std::uint64_t call_id, void*) {
    const auto call = index_of(call_id);
    request_bytes(call, g_calls[call].size);
    Envelope e;
    e.flags = kFlagIdempotent;
    e.call_id = call_id;
    e.sender_incarnation = client.incarnation;
    e.source_node = kClient;
    e.destination_node = kServer;
    e.procedure = kEcho;
    client.send_envelope(e, {g_request, g_calls[call].size}, now);
  };
  while (next_call <= kCalls || table.in_flight() > 0 || g_net.count > 0) {
    now += 100;
    if (now - run_start > 10'000'000) break;
    if (next_call <= kCalls && rng.below(4) == 0) {
      const bool idempotent = rng.below(2) == 0;
      Result<CallTable::Started> s = table.start(kServer, idempotent, kPolicy, now);
      if (s) {
        if (next_call == 1) g_first_counter = static_cast<std::uint32_t>(s->call_id);
        const auto call = index_of(s->call_id);
        ClientCall& c = g_calls[call];
        c.idempotent = idempotent;
        c.size = static_cast<std::uint16_t>(rng.below(static_cast<std::uint32_t>(max_request)));
        c.started_at = now;
        request_bytes(call, c.size);
        c.expected_checksum = checksum({g_request, c.size});
        Envelope e;
        e.flags = idempotent ? kFlagIdempotent : 0;
        e.call_id = s->call_id;
        e.sender_incarnation = client.incarnation;
        e.source_node = kClient;
        e.destination_node = kServer;
        e.procedure = idempotent ? kEcho : kAdd;
        client.send_envelope(e, {g_request, c.size}, now);
        ++next_call;
      }
    }
    // Deliver what is due.
    for (std::size_t i = 0; i < g_net.count;) {
      Datagram& d = g_net.queue[i];
      if (d.deliver_at > now) {
        ++i;
        continue;
      }
      static Datagram current;
      current = d;
      g_net.queue[i] = g_net.queue[--g_net.count];
      Node& to = current.to == kServer ? server : client;
      LinkFrame frame;
      if (decode_datagram({current.bytes, current.size}, frame) != LinkError::none) continue;
      std::optional<ReassembledMessage> m = to.reassembler.accept(0, frame, now);
      if (!m) continue;
      DecodedEnvelope env;
      if (decode_envelope(m->bytes, env, to.id) == EnvelopeError::none) {
        if (&to == &server) {
          serve(server, env, now);
        } else if (auto f =
                       table.on_reply(env.header.call_id, env.header.source_node, from_wire(env.header.status), now)) {
          on_finished(*f);
          ClientCall& c = g_calls[index_of(f->call_id)];
          for (int b = 0; b < 8 && env.payload.size() == 8; ++b)
            c.value |= std::uint64_t{std::to_integer<std::uint8_t>(env.payload[b])} << (8 * b);
        }
      }
      to.reassembler.release(*m);
    }
    table.poll(now, on_finished, resend);
  }
  for (int call = 1; call <= kCalls; ++call) {
    const ClientCall& c = g_calls[call];
    if (!c.finished) {
      ++out.hung;
      continue;
    }
    if (c.finished_at > c.started_at + kPolicy.timeout_us) ++out.late;
    if (c.status == Status::ok) {
      ++out.ok;
      if (c.idempotent && c.value != c.expected_checksum) ++out.wrong_value;
      if (!c.idempotent && g_executions[call] != 1) ++out.ok_not_executed;
    } else {
      ++out.failed;
    }
    if (!c.idempotent && g_executions[call] > 1) ++out.executed_twice;
  }
  return out;
}

AMBIENCE_TEST(clean_link_every_call_succeeds) {
  const Outcome o = run(0, 0);
  CHECK_EQ(o.ok, kCalls);
  CHECK_EQ(o.hung + o.late + o.wrong_value + o.executed_twice + o.ok_not_executed, 0);
}

AMBIENCE_TEST(duplicating_link_never_executes_twice) {
  const Outcome o = run(0, 30);
  CHECK_EQ(o.ok, kCalls);
  CHECK_EQ(o.hung + o.late + o.wrong_value + o.executed_twice + o.ok_not_executed, 0);
  CHECK(g_roomy_cache.counters().replayed + g_roomy_cache.counters().in_progress > 0);
}

// Single-frame requests (the link's memory of recent messages does not hide their duplicates)
// and a 3-entry reply cache: duplicates arrive after their call was evicted, and only the
// per-source floor keeps them from running again.
AMBIENCE_TEST(tight_reply_cache_under_duplicates_never_executes_twice) {
  const Outcome o = run(0, 50, kDatagram - kLinkOverhead - kEnvelopeSize, g_tight_cache);
  CHECK_EQ(o.hung + o.late + o.wrong_value + o.executed_twice + o.ok_not_executed, 0);
  CHECK(g_tight_cache.counters().forgotten > 0);
  CHECK(o.ok > kCalls / 2);
}

AMBIENCE_TEST(lossy_link_every_call_ends_by_its_deadline) {
  const Outcome o = run(8, 10);
  CHECK_EQ(o.hung, 0);
  CHECK_EQ(o.late, 0);
  CHECK_EQ(o.executed_twice + o.wrong_value + o.ok_not_executed, 0);
  CHECK(o.failed > 0 && o.ok > kCalls / 2);  // some calls time out; retries save idempotent ones
  CHECK(o.ok + o.failed == kCalls);
}

}  // namespace
