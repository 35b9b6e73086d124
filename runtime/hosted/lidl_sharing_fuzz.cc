// Hardening of the callee side of typed zero-copy calls (lidl_sharing.hpp: SharingServer::serve_one
// and serve_typed) against a hostile caller group. The supervisor serves the test interface
// sharetest.Bulk (testdata/bulk.lidl, as lidl_sharing_test) through two SharingServers on its
// side of a group's channel — one plain, one with an allow hook that grants only `blob` — and the
// fuzz input is a script of what the sandboxed group can do: forge call blocks (header, argument
// slots, encoded body; inline in the ring element or in its own arena behind a BufferRef), make
// honest SharingChannel calls, push requests for elements it never set up, and, between any two
// steps, overwrite bytes of its arena, of its elements (headers: size, flags, target, cookie) or
// anywhere in the ring region (cursors, ring entries), as the ring fuzzer's hostile writer does.
// The supervisor polls and serves whenever the script says so, and restarts the group (formats
// the region again) when its side of the ring gave up. Everything lives in plain heap memory of
// exactly the arena and region sizes, in one process (two Channels over one region, no group
// process): ASan sees any access outside them.
//
// A reference model, written independently of lidl_sharing.hpp (128-bit bounds arithmetic, its
// own UTF-8 check), predicts the outcome of every request the supervisor dispatches from the bytes
// the group left in shared memory. Properties:
//   * the server never reads or writes outside the group's arena, the region and its own reply
//     arena (ASan/UBSan; without sanitizers the implementation checks that every borrowed
//     argument it receives lies inside the caller's arena);
//   * every malformed block (flags, payload reference, header, argument count or kind, a
//     reference outside the arena, an encoded argument outside the body, a label that is not
//     UTF-8, a relayed origin the server cannot map) is answered with an error status —
//     bad_message / access_denied as the model says — counted in rejected(), and never reaches
//     the implementation; a procedure the allow hook refuses is access_denied and an unknown one
//     not_found (neither counted);
//   * a well-formed call is dispatched exactly once with the arguments the block names (spans
//     pointing into the caller's arena at the named offsets: no copy) and answered ok with the
//     canonical encoding of the implementation's result, inline when it fits the element and
//     otherwise in the supervisor's arena behind a BufferRef of exactly its length; every
//     request the server took is answered;
//   * the server stays usable after any input: once the script ends (the group restarted if its
//     ring is wedged), fresh honest calls (a span copied in, a span in place, a reply larger than
//     an element, bytes through the allow-hooked server) succeed with exact results, and every
//     coroutine frame and arena buffer of the input is released.
// Not covered: the group-side server of relayed calls (origin != 0 resolved through
// GroupRuntime::peer_arena needs a group process; here such blocks must be access_denied).
//
//   * libFuzzer (clang, ASan, UBSan; AMBIENCE_LIBFUZZER defined): //tests/fuzz:sharing_fuzz
//   * built-in driver (any compiler; the test): lidl_sharing_fuzz [iterations] [seed] — a few fixed
//     scenarios, then random scripts; AMBIENCE_FUZZ_SEEDS=<dir> saves the first ones as seeds.
#include <algorithm>
#include <array>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include "kernel/core/frame_allocator.hpp"
#include "kernel/core/scheduler.hpp"
#include "kernel/core/task.hpp"
#include "kernel/net/test_util.hpp"
#include "kernel/testing/fuzz_seeds.hpp"
#include "runtime/hosted/lidl_sharing.hpp"
#include "runtime/hosted/testdata/bulk.lidl.hpp"

namespace {

using ambience::Scheduler;
using ambience::Status;
using ambience::Task;
using namespace ambience::hosted;
namespace sh = ambience::hosted::sharing;
namespace wire = ambience::lidl;
using ambience::ipc::ElementHeader;
using ambience::ipc::Side;

long g_script = -1;  // the built-in driver's script number, for the message

[[noreturn]] [[gnu::format(printf, 1, 2)]] void broken(const char* fmt, ...) {
  std::fprintf(stderr, "PROPERTY BROKEN: ");
  if (g_script >= 0) std::fprintf(stderr, "(script %ld) ", g_script);
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "\n");
  std::abort();
}

// Small enough that call blocks and replies go both inline and through the arenas.
constexpr RingConfig kConfig{4, 4, 128};
constexpr std::uint32_t kCapacity = kConfig.payload_bytes;
constexpr std::size_t kGroupArena = 2048;       // the caller's arena (the server reads it)
constexpr std::size_t kKernelArena = 64 << 10;  // the server's reply arena
constexpr std::uint32_t kPlain = 11;
constexpr std::uint32_t kBlobOnly = 12;  // set_allow: only procedure 1 (blob)
constexpr std::uint64_t kNotInArena = ~std::uint64_t{0};

// Shared memory, as exact heap allocations (ASan redzones on both sides).
struct Memory {
  std::size_t region_bytes = ambience::ipc::region_bytes(kConfig);
  std::byte* region = alloc(region_bytes);
  std::byte* group = alloc(kGroupArena);
  std::byte* kernel = alloc(kKernelArena);
  static std::byte* alloc(std::size_t n) { return static_cast<std::byte*>(std::aligned_alloc(64, n)); }
};
Memory& mem() {
  static Memory m;
  return m;
}

Channel g_kernel;        // the supervisor's side of the group's ring
Channel g_group;         // the group's side (the script drives it)
Arena g_reply_arena;     // the supervisor's arena: the servers' large replies
Arena g_group_alloc;     // the group's arena as its honest client allocates from it
std::uint32_t g_generation = 1;

bool in_group_arena(const void* p, std::size_t n) {
  const auto* b = static_cast<const std::byte*>(p);
  return b >= mem().group && n <= kGroupArena && b - mem().group <= static_cast<std::ptrdiff_t>(kGroupArena - n);
}

// Runs what is ready and what that posts (run_ready() runs only what was queued when called).
std::size_t run_all() {
  std::size_t total = 0;
  for (int round = 0; round < 64; ++round) {
    const std::size_t n = Scheduler::current().run_ready();
    if (n == 0) break;
    total += n;
  }
  return total;
}

// ---------------------------------------------------------------- the service

struct ImplCall {
  std::uint16_t procedure = 0;
  const void* data = nullptr;
  std::size_t size = 0;
  const void* label = nullptr;
  std::size_t label_size = 0;
  std::uint32_t scale = 0;
  std::uint64_t sum = 0;  // blob: of the owned copy
  bool operator==(const ImplCall&) const = default;
};

// As lidl_sharing_test's BulkImpl, recording what it was called with.
class FuzzBulk final : public sharetest::Bulk {
 public:
  std::vector<ImplCall> calls;
  Task<sharetest::Seen> inspect(std::span<const std::uint8_t> data, std::string_view label,
                                std::uint32_t scale) override {
    if (!in_group_arena(data.data(), data.size()) || !in_group_arena(label.data(), label.size()))
      broken("a borrowed argument outside the caller's arena reached the implementation");
    sharetest::Seen seen;
    for (std::uint8_t b : data) seen.sum += b;
    seen.sum *= scale;
    const auto* p = reinterpret_cast<const std::byte*>(data.data());
    seen.arena_offset = data.empty() ? kNotInArena : static_cast<std::uint64_t>(p - mem().group);
    seen.label = std::string(label);
    calls.push_back(ImplCall{0, data.data(), data.size(), label.data(), label.size(), scale, 0});
    co_return seen;
  }
  Task<std::uint64_t> blob(const std::vector<std::uint8_t>& data) override {
    std::uint64_t sum = 0;
    for (std::uint8_t b : data) sum += b;
    calls.push_back(ImplCall{1, nullptr, data.size(), nullptr, 0, 0, sum});
    co_return sum + data.size();
  }
};

// ---------------------------------------------------------------- the model

bool utf8_ok(const std::byte* s, std::size_t n) {
  std::size_t i = 0;
  while (i < n) {
    const auto c = static_cast<std::uint32_t>(s[i]);
    std::size_t more = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if ((c & 0xE0) == 0xC0) {
      more = 1, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      more = 2, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      more = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (n - i - 1 < more) return false;
    for (std::size_t k = 1; k <= more; ++k) {
      const auto t = static_cast<std::uint32_t>(s[i + k]);
      if ((t & 0xC0) != 0x80) return false;
      cp = cp << 6 | (t & 0x3F);
    }
    static constexpr std::uint32_t kMin[4] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[more] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += more + 1;
  }
  return true;
}

template <class T>
T load(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <class R>
std::vector<std::byte> encoded(const R& result) {
  std::vector<std::byte> out(wire::compute_size(result));
  if (wire::encode(result, out) != out.size()) broken("model: cannot encode the expected result");
  return out;
}

// What the supervisor must do with one request.
struct Expect {
  int server = -1;  // 0 plain, 1 blob-only, -1 no such target (the table answers not_found)
  Status status = Status::not_found;
  bool counted = false;     // in that server's rejected()
  bool dispatched = false;  // reaches the implementation
  ImplCall call;
  std::vector<std::byte> reply;  // ok: the encoded result
};

using U128 = unsigned __int128;

Expect model(const Channel::Request& r) {
  Expect e;
  const ElementHeader& h = r.header;
  e.server = h.target == kPlain ? 0 : h.target == kBlobOnly ? 1 : -1;
  if (e.server < 0) return e;
  auto refuse = [&](Status s, bool counted) {
    e.status = s;
    e.counted = counted;
    return e;
  };
  if ((h.flags & kFlagSharedCall) == 0 || h.size > kCapacity) return refuse(Status::bad_message, true);
  const std::byte* payload = g_kernel.payload(r.index);
  const std::byte* block = payload;
  std::uint64_t len = h.size;
  if ((h.flags & kFlagArenaPayload) != 0) {
    if (h.size != 16) return refuse(Status::bad_message, true);
    const auto off = load<std::uint64_t>(payload), n = load<std::uint64_t>(payload + 8);
    if (U128{off} + n > kGroupArena) return refuse(Status::bad_message, true);
    block = mem().group + off;
    len = n;
  }
  if (len < 16) return refuse(Status::bad_message, true);
  const auto procedure = load<std::uint16_t>(block), origin = load<std::uint16_t>(block + 2);
  const auto arg_count = load<std::uint32_t>(block + 4), body_size = load<std::uint32_t>(block + 8);
  if (origin != 0) return refuse(Status::access_denied, true);  // no group runtime in the supervisor
  if (e.server == 1 && procedure != 1) return refuse(Status::access_denied, false);
  if (procedure > 1) return refuse(Status::not_found, false);
  const std::uint64_t args = procedure == 0 ? 3 : 1, head = 16 + 24 * args;
  if (arg_count != args || U128{head} + body_size > len) return refuse(Status::bad_message, true);
  const std::byte* body = block + head;
  auto borrowed = [&](int i, const std::byte*& p, std::uint64_t& n) {
    const std::byte* slot = block + 16 + 24 * i;
    const auto off = load<std::uint64_t>(slot);
    n = load<std::uint64_t>(slot + 8);
    p = mem().group + (off <= kGroupArena ? off : 0);
    return load<std::uint32_t>(slot + 16) == sh::kArena && U128{off} + n <= kGroupArena;
  };
  const std::byte* data = nullptr;
  std::uint64_t size = 0;
  if (!borrowed(0, data, size)) return refuse(Status::bad_message, true);
  std::uint64_t sum = 0;
  for (std::uint64_t i = 0; i < size; ++i) sum += static_cast<std::uint8_t>(data[i]);
  if (procedure == 1) {
    e.call = ImplCall{1, nullptr, static_cast<std::size_t>(size), nullptr, 0, 0, sum};
    e.reply = encoded(sharetest::Bulk_blob_Result{sum + size});
  } else {
    const std::byte* label = nullptr;
    std::uint64_t label_size = 0;
    if (!borrowed(1, label, label_size) || !utf8_ok(label, label_size)) return refuse(Status::bad_message, true);
    const std::byte* slot = block + 16 + 48;
    const auto off = load<std::uint64_t>(slot), n = load<std::uint64_t>(slot + 8);
    if (load<std::uint32_t>(slot + 16) != sh::kEncoded || off % 8 != 0 || U128{off} + n > body_size || n < 4)
      return refuse(Status::bad_message, true);
    const auto scale = load<std::uint32_t>(body + off);
    e.call = ImplCall{0, data, static_cast<std::size_t>(size), label, static_cast<std::size_t>(label_size), scale, 0};
    sharetest::Bulk_inspect_Result result;
    result.value.sum = sum * scale;
    result.value.arena_offset = size == 0 ? kNotInArena : static_cast<std::uint64_t>(data - mem().group);
    result.value.label.assign(reinterpret_cast<const char*>(label), label_size);
    e.reply = encoded(result);
  }
  e.status = Status::ok;
  e.dispatched = true;
  return e;
}

// ---------------------------------------------------------------- the group's calls

struct HonestCall {
  std::uint16_t procedure = 0;
  std::vector<std::uint8_t> heap;
  std::span<const std::uint8_t> data;
  std::string label;
  std::string_view label_view;
  std::uint32_t scale = 1;
  Status status = Status::internal;
  sharetest::Seen seen;
  std::uint64_t blob = 0;
  bool done = false;
};

Task<void> honest_call(SharingChannel<sharetest::Bulk>* ch, HonestCall* c) {
  if (c->procedure == 0) {
    const sharetest::Bulk_inspect_Args args{&c->data, &c->label_view, &c->scale};
    sharetest::Bulk_inspect_Result result{};
    c->status = co_await ch->invoke(0, &args, &result);
    c->seen = std::move(result.value);
  } else {
    const sharetest::Bulk_blob_Args args{&c->heap};
    sharetest::Bulk_blob_Result result{};
    c->status = co_await ch->invoke(1, &args, &result);
    c->blob = result.value;
  }
  c->done = true;
}

struct ForgedCall {
  Channel::Slot slot;
  std::uint32_t target = 0;
  std::uint16_t method = 0;
  std::uint8_t flags = 0;
  Status status = Status::internal;
  bool done = false;
};

Task<void> forged_call(ForgedCall* f) {
  const auto r = co_await g_group.call(f->slot, f->target, f->method, f->flags);
  f->status = r.status == Status::ok ? r.remote() : r.status;
  g_group.finish(f->slot);
  f->done = true;
}

// Outcomes over the whole run (the built-in driver's summary).
struct Totals {
  std::uint64_t served[12] = {};  // by Status
  std::uint64_t restarts = 0;
} g_totals;

// One input's servers, clients and calls.
struct World {
  ServiceTable table;
  FuzzBulk impl;
  SharingServer<sharetest::Bulk> plain{impl, &g_reply_arena};
  SharingServer<sharetest::Bulk> blob_only{impl, &g_reply_arena};
  ServiceContext context{&g_kernel, {mem().group, kGroupArena}};
  SharingChannel<sharetest::Bulk> client{g_group, kPlain, g_group_alloc, {mem().kernel, kKernelArena}};
  SharingChannel<sharetest::Bulk> blob_client{g_group, kBlobOnly, g_group_alloc, {mem().kernel, kKernelArena}};
  std::deque<HonestCall> honest;
  std::deque<ForgedCall> forged;
  struct Pending {
    std::uint32_t index;
    std::uint32_t cookie;
    Expect expect;
  };
  std::vector<Pending> pending;  // dispatched by the current kernel poll

  World() {
    blob_only.set_allow([](void*, const ServiceContext&, std::uint16_t procedure) { return procedure == 1; }, nullptr);
    if (!plain.install(table, kPlain) || !blob_only.install(table, kBlobOnly)) broken("install");
    g_kernel.serve(
        [](void* self, Channel&, const Channel::Request& r) {
          auto* w = static_cast<World*>(self);
          w->pending.push_back(Pending{r.index, r.header.cookie, model(r)});
          w->table.dispatch(w->context, r);
        },
        this);
  }
  ~World() { g_kernel.serve(nullptr, nullptr); }
  bool settled() const {
    for (const auto& c : honest)
      if (!c.done) return false;
    for (const auto& f : forged)
      if (!f.done) return false;
    return true;
  }
};

// ---------------------------------------------------------------- the supervisor's side

void restart() {
  g_kernel.reset_peer();
  g_group.reset_peer();
  Memory& m = mem();
  if (ambience::ipc::format_region(m.region, m.region_bytes, kConfig, ++g_generation) != Status::ok ||
      g_kernel.attach(Side::kernel, m.region, m.region_bytes, kConfig, nullptr, nullptr) != Status::ok ||
      g_group.attach(Side::group, m.region, m.region_bytes, kConfig, nullptr, nullptr) != Status::ok) {
    broken("attach to a fresh region");
  }
  run_all();  // calls in flight complete with peer_restarted
}

void check_reply(const World::Pending& p) {
  const Expect& e = p.expect;
  ElementHeader out;
  std::memcpy(&out, g_kernel.header(p.index), sizeof out);
  // (A side that found the ring corrupt pushes nothing more: the supervisor restarts the group.)
  if (g_kernel.endpoint().state(p.index) == Channel::Endpoint::kServing && g_kernel.healthy())
    broken("request %u never answered", p.index);
  if (out.status != static_cast<std::uint8_t>(e.status))
    broken("request in element %u answered %s, expected %s", p.index,
           ambience::to_string(static_cast<Status>(out.status)), ambience::to_string(e.status));
  if (out.cookie != p.cookie) broken("reply cookie %u for request cookie %u", out.cookie, p.cookie);
  ++g_totals.served[static_cast<std::uint8_t>(e.status)];
  if (e.status != Status::ok) return;
  const bool in_arena = (out.flags & kFlagArenaPayload) != 0;
  if (in_arena != (e.reply.size() > kCapacity))
    broken("a %zu-byte reply %s the element", e.reply.size(),
           in_arena ? "in the arena though it fits" : "inline beyond");
  const std::byte* bytes = g_kernel.payload(p.index);
  if (in_arena) {
    if (out.size != sizeof(BufferRef)) broken("arena reply with a %u-byte reference", out.size);
    const auto ref = load<BufferRef>(bytes);
    if (ref.length != e.reply.size() || U128{ref.offset} + ref.length > kKernelArena)
      broken("arena reply {%llu, %llu} outside the reply arena or of the wrong size",
             static_cast<unsigned long long>(ref.offset), static_cast<unsigned long long>(ref.length));
    bytes = mem().kernel + ref.offset;
  } else if (out.size != e.reply.size()) {
    broken("inline reply of %u bytes, expected %zu", out.size, e.reply.size());
  }
  if (std::memcmp(bytes, e.reply.data(), e.reply.size()) != 0) broken("the reply is not the implementation's result");
}

// Polls the supervisor's side, serves what arrived, and checks every answer against the model.
std::size_t kernel_serve(World& w) {
  w.pending.clear();
  const std::uint64_t rejected[2] = {w.plain.rejected(), w.blob_only.rejected()};
  const std::size_t calls = w.impl.calls.size();
  std::size_t n = g_kernel.poll();
  n += run_all();
  std::uint64_t counted[2] = {0, 0};
  std::size_t k = calls;
  for (const auto& p : w.pending) {
    check_reply(p);
    if (p.expect.server >= 0 && p.expect.counted) ++counted[p.expect.server];
    if (!p.expect.dispatched) continue;
    if (k >= w.impl.calls.size()) broken("a well-formed call (element %u) was not dispatched", p.index);
    if (!(w.impl.calls[k++] == p.expect.call)) broken("the implementation got other arguments than the block names");
  }
  if (k != w.impl.calls.size()) broken("the implementation ran for a call that must have been refused");
  if (w.plain.rejected() - rejected[0] != counted[0] || w.blob_only.rejected() - rejected[1] != counted[1])
    broken("rejected() counted %llu/%llu, expected %llu/%llu",
           static_cast<unsigned long long>(w.plain.rejected() - rejected[0]),
           static_cast<unsigned long long>(w.blob_only.rejected() - rejected[1]),
           static_cast<unsigned long long>(counted[0]), static_cast<unsigned long long>(counted[1]));
  w.pending.clear();
  return n;
}

std::size_t group_poll() {
  std::size_t n = g_group.poll();
  return n + run_all();
}

// Runs both sides until nothing moves; true if every call completed and both sides are sound.
bool drain(World& w) {
  for (int round = 0; round < 8; ++round) {
    if (kernel_serve(w) + group_poll() == 0) break;
  }
  return w.settled() && g_kernel.healthy() && g_group.healthy() && g_group.calls_in_flight() == 0 &&
         g_group.endpoint().in_flight() == 0 && g_group.endpoint().waiters() == 0;
}

// ---------------------------------------------------------------- the script

// Records of the script (read with memcpy, zero-filled when the input ends).
#pragma pack(push, 1)
struct ArgChoice {
  std::uint8_t sel;  // bits 0-1: offset form, 2-3: length form, 4-5: kind form
  std::uint16_t off, len;
  std::uint64_t raw_off, raw_len;
  std::uint32_t raw_kind;
};
struct ForgeOp {
  // bit 0: block in the arena; 1: procedure 1 (blob); 2: to the blob-only server; 3: header fields
  // below; 4: length adjustment; 5: byte patches; 6: raw flags; 7: raw target and reference
  std::uint8_t mode;
  ArgChoice arg[3];
  std::uint32_t scale;
  std::uint16_t procedure, origin;
  std::uint8_t arg_count, body_size;
  std::int8_t adjust;
  std::uint8_t patch_at[3], patch[3];
  std::uint8_t flags;
  std::uint32_t target;
  std::uint16_t at;  // where the block goes in the arena
  std::uint64_t ref_off, ref_len;
};
struct HonestOp {
  std::uint8_t mode;  // bit 0: blob; 1: data in place (a part of the arena); 2: long label; 3: blob-only server
  std::uint16_t off, len;
  std::uint8_t seed, label_len, scale;
};
struct WriteOp {
  std::uint16_t at;
  std::uint8_t element, len;
  std::uint8_t bytes[16];
};
#pragma pack(pop)

enum Op : std::uint8_t {
  kForge,        // a forged call block, pushed
  kHonest,       // a SharingChannel call
  kArenaWrite,   // hostile bytes in the group's arena
  kElementWrite, // hostile bytes in one of the group's elements (header or payload)
  kServe,        // the supervisor polls and serves
  kGroupPoll,    // the group takes its replies
  kBarePush,     // a request entry for an element nobody filled in
  kRegionWrite,  // hostile bytes anywhere in the ring region
  kRestart,      // the supervisor restarts the group if its side gave up (or anyway, 1 in 8)
  kOps,
};

struct Script {
  const std::uint8_t* p;
  std::size_t n;
  std::uint8_t byte() {
    if (n == 0) return 0;
    --n;
    return *p++;
  }
  template <class T>
  T take() {
    T v;
    std::memset(&v, 0, sizeof v);
    const std::size_t k = n < sizeof v ? n : sizeof v;
    std::memcpy(&v, p, k);
    p += k;
    n -= k;
    return v;
  }
};

std::uint64_t pick_offset(const ArgChoice& a) {
  switch (a.sel & 3) {
    case 0: return a.off % (kGroupArena + 1);
    case 1: return kGroupArena - a.off % 16;
    case 2: return a.raw_off;
    default: return ~std::uint64_t{0} - a.off % 16;
  }
}
std::uint64_t pick_length(const ArgChoice& a, std::uint64_t off) {
  switch (a.sel >> 2 & 3) {
    case 0: return off <= kGroupArena ? a.len % (kGroupArena - off + 1) : a.len;
    case 1: return kGroupArena - off + a.len % 4;  // up to the end, or just past it
    case 2: return a.raw_len;
    default: return ~std::uint64_t{0} - a.len % 16;
  }
}
std::uint32_t pick_kind(const ArgChoice& a, std::uint32_t right) {
  switch (a.sel >> 4 & 3) {
    case 1: return right == sh::kArena ? sh::kEncoded : sh::kArena;
    case 2: return a.raw_kind;
    default: return right;
  }
}

void forge(World& w, const ForgeOp& op) {
  const std::uint16_t procedure = op.mode >> 1 & 1;
  const std::uint32_t args = procedure == 0 ? 3 : 1;
  sh::CallHeader h{procedure, 0, args, 0, 0};
  sh::ArgSlot slots[3] = {};
  alignas(8) std::byte body[40] = {};
  std::uint32_t body_size = 0;
  for (std::uint32_t i = 0; i < args; ++i) {
    const ArgChoice& a = op.arg[i];
    if (procedure == 0 && i == 2) {  // scale: encoded in the body
      std::uint64_t off = 0, len = 4;
      switch (a.sel & 3) {
        case 1: off = a.off % 40; break;
        case 2: off = a.raw_off; break;
        case 3: off = 4; break;
        default: break;
      }
      switch (a.sel >> 2 & 3) {
        case 1: len = a.len % 16; break;
        case 2: len = a.raw_len; break;
        case 3: len = 8; break;
        default: break;
      }
      const std::uint64_t at = off <= sizeof body - 4 ? off : 0;
      std::memcpy(body + at, &op.scale, 4);
      body_size = static_cast<std::uint32_t>(
          off + len <= sizeof body && off + len >= off ? sh::align8(static_cast<std::size_t>(off + len)) : 8);
      slots[i] = sh::ArgSlot{off, len, pick_kind(a, sh::kEncoded), 0};
    } else {
      const std::uint64_t off = pick_offset(a);
      slots[i] = sh::ArgSlot{off, pick_length(a, off), pick_kind(a, sh::kArena), 0};
    }
  }
  h.body_size = body_size;
  if (op.mode & 8) {
    h.procedure = op.procedure;
    h.origin = op.origin;
    h.arg_count = op.arg_count;
    h.body_size = op.body_size;
  }
  alignas(8) std::byte block[320] = {};
  const std::size_t head = sizeof h + args * sizeof(sh::ArgSlot);
  std::memcpy(block, &h, sizeof h);
  std::memcpy(block + sizeof h, slots, args * sizeof(sh::ArgSlot));
  std::memcpy(block + head, body, body_size);
  std::size_t len = head + body_size;
  if (op.mode & 16) len = static_cast<std::size_t>(std::max<long>(0, static_cast<long>(len) + op.adjust));
  if (op.mode & 32) {
    for (int k = 0; k < 3 && len > 0; ++k) block[op.patch_at[k] % len] = static_cast<std::byte>(op.patch[k]);
  }
  bool in_arena = (op.mode & 1) != 0 || len > kCapacity;
  std::uint8_t flags = kFlagSharedCall | (in_arena ? kFlagArenaPayload : 0);
  if (op.mode & 64) flags = op.flags;
  const std::uint32_t target = op.mode & 128 ? op.target : op.mode & 4 ? kBlobOnly : kPlain;

  ForgedCall f;
  f.slot = g_group.try_begin();
  if (!f.slot) return;
  const std::uint32_t index = f.slot.index();
  std::byte* payload = g_group.payload(index);
  if (in_arena) {
    const std::size_t at = op.at % kGroupArena;
    std::memcpy(mem().group + at, block, std::min(len, kGroupArena - at));
    BufferRef ref{at, len};
    if (op.mode & 128) ref = BufferRef{op.ref_off, op.ref_len};
    std::memcpy(payload, &ref, sizeof ref);
    g_group.header(index)->size = sizeof ref;
  } else {
    std::memcpy(payload, block, len);
    g_group.header(index)->size = static_cast<std::uint32_t>(len);
  }
  f.target = target;
  f.method = h.procedure;
  f.flags = flags;
  ForgedCall& rec = w.forged.emplace_back(f);
  if (ambience::spawn(forged_call(&rec)) != Status::ok) broken("spawn");
  run_all();  // pushes and publishes the request
}

void honest(World& w, const HonestOp& op) {
  HonestCall& c = w.honest.emplace_back();
  c.procedure = op.mode & 1;
  if (c.procedure == 0 && (op.mode & 2) != 0) {
    const std::size_t off = op.off % kGroupArena;
    c.data = {reinterpret_cast<const std::uint8_t*>(mem().group + off), op.len % (kGroupArena - off + 1)};
  } else {
    c.heap.resize(std::size_t{op.len} % 1024);
    for (std::size_t i = 0; i < c.heap.size(); ++i) c.heap[i] = static_cast<std::uint8_t>(op.seed + i * 13);
    c.data = c.heap;
  }
  c.label.resize(std::size_t{op.label_len} % 64 * (op.mode & 4 ? 8 : 1));
  for (std::size_t i = 0; i < c.label.size(); ++i) c.label[i] = static_cast<char>('a' + (op.seed + i) % 26);
  c.label_view = c.label;
  c.scale = op.scale;
  if (ambience::spawn(honest_call(op.mode & 8 ? &w.blob_client : &w.client, &c)) != Status::ok) broken("spawn");
  run_all();
}

void write_bytes(std::byte* base, std::size_t size, std::size_t at, const WriteOp& op) {
  const std::size_t len = std::min<std::size_t>(op.len % 17, size - at);
  std::memcpy(base + at, op.bytes, len);
}

void bare_push() {
  auto& ep = g_group.endpoint();
  const std::int32_t i = ep.try_acquire();
  if (i < 0) return;
  if (ep.push(ambience::ipc::EntryKind::request, static_cast<std::uint32_t>(i)) != Status::ok) {
    ep.release(static_cast<std::uint32_t>(i));
    return;
  }
  ep.flush();
}

// The honest calls that must succeed after any input, with exact results (all three in flight at
// once; their arena copies land well below the in-place span at the end of the arena).
void good_calls(World& w) {
  // A span copied into the arena, a reply larger than an element (through the reply arena).
  HonestCall& a = w.honest.emplace_back();
  std::uint64_t sum_a = 0;
  a.heap.resize(300);
  for (std::size_t i = 0; i < a.heap.size(); ++i) sum_a += a.heap[i] = static_cast<std::uint8_t>(i * 7 + 3);
  a.data = a.heap;
  a.label.assign(150, 'x');
  a.label_view = a.label;
  a.scale = 3;
  // A span already in the arena: read in place.
  HonestCall& b = w.honest.emplace_back();
  const std::size_t off = kGroupArena - 256;
  b.data = {reinterpret_cast<const std::uint8_t*>(mem().group + off), 256};
  std::uint64_t sum_b = 0;
  for (std::uint8_t v : b.data) sum_b += v;
  b.label_view = "in place";
  // bytes through the server with the allow hook.
  HonestCall& c = w.honest.emplace_back();
  c.procedure = 1;
  c.heap.assign(200, 5);
  if (ambience::spawn(honest_call(&w.client, &a)) != Status::ok ||
      ambience::spawn(honest_call(&w.client, &b)) != Status::ok ||
      ambience::spawn(honest_call(&w.blob_client, &c)) != Status::ok) {
    broken("spawn");
  }
  run_all();
  if (!drain(w))
    broken("the good calls after the script did not complete (kernel side %s, group side %s, %u in flight)",
           g_kernel.healthy() ? "sound" : g_kernel.endpoint().fault(),
           g_group.healthy() ? "sound" : g_group.endpoint().fault(), g_group.endpoint().in_flight());
  for (const HonestCall* x : {&a, &b, &c})
    if (x->status != Status::ok) broken("a good call after the script failed: %s", ambience::to_string(x->status));
  if (a.seen.sum != sum_a * 3 || a.seen.label != a.label || a.seen.arena_offset >= off)
    broken("good call: wrong result");
  if (b.seen.sum != sum_b || b.seen.arena_offset != off || b.seen.label != "in place")
    broken("good call in place: wrong result (offset %llu)", static_cast<unsigned long long>(b.seen.arena_offset));
  if (c.blob != 200 * 5 + 200) broken("good blob call: wrong result");
}

void run_script(const std::uint8_t* data, std::size_t size) {
  Memory& m = mem();
  const std::size_t frames = ambience::FrameAllocator::instance().stats().live_frames;
  static const auto pattern = [] {  // printable ASCII: labels in the arena start out valid UTF-8
    std::array<std::byte, kGroupArena> p;
    for (std::size_t i = 0; i < p.size(); ++i) p[i] = static_cast<std::byte>(0x20 + i % 95);
    return p;
  }();
  std::memcpy(m.group, pattern.data(), kGroupArena);
  std::memset(m.region, 0, m.region_bytes);  // nothing of the previous input survives in it
  g_group_alloc.init(m.group, kGroupArena);
  g_reply_arena.init(m.kernel, kKernelArena);
  restart();
  {
    World w;
    Script s{data, size};
    bool ring_written = false;
    for (int step = 0; step < 96 && s.n > 0; ++step) {
      switch (s.byte() % kOps) {
        case kForge: forge(w, s.take<ForgeOp>()); break;
        case kHonest: honest(w, s.take<HonestOp>()); break;
        case kArenaWrite: {
          const auto op = s.take<WriteOp>();
          write_bytes(m.group, kGroupArena, op.at % kGroupArena, op);
          break;
        }
        case kElementWrite: {
          const auto op = s.take<WriteOp>();
          const std::uint32_t e = kConfig.kernel_elements + op.element % kConfig.group_elements;
          write_bytes(reinterpret_cast<std::byte*>(g_group.header(e)), sizeof(ElementHeader) + kCapacity,
                      op.at % (sizeof(ElementHeader) + kCapacity), op);
          break;
        }
        case kServe: kernel_serve(w); break;
        case kGroupPoll: group_poll(); break;
        case kBarePush: bare_push(); break;
        case kRegionWrite: {
          const auto op = s.take<WriteOp>();
          write_bytes(m.region, m.region_bytes, op.at % m.region_bytes, op);
          ring_written = true;
          break;
        }
        default:
          if (const bool anyway = s.byte() % 8 == 0; anyway || !g_kernel.healthy() || !g_group.healthy()) {
            restart();
            ring_written = false;
            ++g_totals.restarts;
          }
      }
    }
    // The supervisor restarts a group whose ring is wedged. A group that scribbled on the ring's
    // cursors may have broken its own side in ways only its next push notices: restart it too.
    if (!drain(w) || ring_written) {
      restart();
      ++g_totals.restarts;
    }
    if (!w.settled()) broken("a call of the group never completed, even after a restart");
    good_calls(w);
  }
  if (g_reply_arena.bytes_in_use() != 0) broken("reply buffers outlive their server");
  if (g_group_alloc.bytes_in_use() != 0) broken("staged arguments outlive their calls");
  if (ambience::FrameAllocator::instance().stats().live_frames != frames) broken("coroutine frames leaked");
}

#ifndef AMBIENCE_LIBFUZZER
// ---------------------------------------------------------------- scripts for the built-in driver

struct Writer {
  std::vector<std::uint8_t> out;
  template <class T>
  void op(Op code, const T& rec) {
    out.push_back(code);
    const auto* p = reinterpret_cast<const std::uint8_t*>(&rec);
    out.insert(out.end(), p, p + sizeof rec);
  }
  void op(Op code) { out.push_back(code); }
};

ForgeOp clean_forge(std::uint8_t mode, std::uint16_t data_off, std::uint16_t data_len, std::uint16_t label_off,
                    std::uint16_t label_len, std::uint32_t scale) {
  ForgeOp f;
  std::memset(&f, 0, sizeof f);
  f.mode = mode;
  f.arg[0].off = data_off;
  f.arg[0].len = data_len;
  f.arg[1].off = label_off;
  f.arg[1].len = label_len;
  f.scale = scale;
  f.at = 1024;
  return f;
}

void random_bytes(ambience::net::testing::Rng& rng, void* p, std::size_t n) {
  auto* b = static_cast<std::uint8_t*>(p);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(rng.next() >> 56);
}

// The first scripts: one of each situation (also the checked-in seeds).
std::vector<std::uint8_t> scenario(int which) {
  Writer w;
  HonestOp h{};
  WriteOp wr{};
  switch (which) {
    case 0:  // a well-formed inline inspect and a blob, served and answered
      w.op(kForge, clean_forge(0, 100, 50, 200, 20, 3));
      w.op(kForge, clean_forge(2, 300, 64, 0, 0, 0));
      w.op(kServe);
      w.op(kGroupPoll);
      break;
    case 1:  // a block in the arena with a long label: the reply goes through the reply arena
      w.op(kForge, clean_forge(1, 0, 512, 600, 400, 7));
      w.op(kServe);
      w.op(kGroupPoll);
      break;
    case 2: {  // references past the end and wrapping around, a wrong kind, a bad label
      ForgeOp f = clean_forge(0, 10, 10, 20, 20, 1);
      f.arg[0].sel = 1 | 1 << 2;
      w.op(kForge, f);
      f = clean_forge(0, 10, 10, 20, 20, 1);
      f.arg[1].sel = 3 | 3 << 2;
      w.op(kForge, f);
      f = clean_forge(0, 10, 10, 20, 20, 1);
      f.arg[2].sel = 1 << 4;
      w.op(kForge, f);
      wr.at = 20;
      wr.len = 2;
      wr.bytes[0] = 0xC0;
      wr.bytes[1] = 0x80;  // an overlong NUL in the label
      w.op(kArenaWrite, wr);
      w.op(kForge, clean_forge(0, 10, 10, 20, 20, 1));
      w.op(kServe);
      w.op(kGroupPoll);
      break;
    }
    case 3: {  // relayed origin, a procedure the allow hook refuses, an unknown procedure
      ForgeOp f = clean_forge(8, 0, 8, 0, 8, 1);
      f.origin = 1;
      f.arg_count = 3;
      f.body_size = 8;
      w.op(kForge, f);
      w.op(kForge, clean_forge(4, 0, 8, 0, 8, 1));
      f = clean_forge(8, 0, 8, 0, 8, 1);
      f.procedure = 9;
      f.arg_count = 3;
      f.body_size = 8;
      w.op(kForge, f);
      w.op(kForge, clean_forge(2 | 4, 0, 8, 0, 0, 0));
      w.op(kServe);
      w.op(kGroupPoll);
      break;
    }
    case 4:  // honest calls: in place, copied in, bytes through the allow-hooked server
      h.mode = 2;
      h.off = 64;
      h.len = 700;
      h.label_len = 9;
      h.scale = 2;
      w.op(kHonest, h);
      h.mode = 4;
      h.len = 300;
      h.label_len = 40;
      w.op(kHonest, h);
      h.mode = 1 | 8;
      h.len = 77;
      w.op(kHonest, h);
      w.op(kServe);
      w.op(kGroupPoll);
      w.op(kServe);
      w.op(kGroupPoll);
      break;
    case 5:  // the group rewrites its element's header and the block after pushing it
      w.op(kForge, clean_forge(0, 0, 16, 0, 16, 1));
      wr.element = 0;
      wr.at = 11;  // ElementHeader::flags and size: now "a BufferRef in the arena"
      wr.len = 5;
      wr.bytes[0] = kFlagSharedCall | kFlagArenaPayload;
      wr.bytes[1] = 16;
      w.op(kElementWrite, wr);
      w.op(kServe);
      w.op(kGroupPoll);
      w.op(kForge, clean_forge(1, 0, 16, 0, 16, 1));
      wr = WriteOp{};
      wr.at = 1024 + 16;
      wr.len = 8;
      wr.bytes[7] = 0x80;  // the data reference's offset, after the push
      w.op(kArenaWrite, wr);
      w.op(kServe);
      w.op(kGroupPoll);
      break;
    case 6: {  // empty call blocks: inline (0 bytes), and a zero-length reference into the arena
      ForgeOp f = clean_forge(16, 0, 8, 0, 8, 1);
      f.adjust = -128;
      w.op(kForge, f);
      f = clean_forge(1 | 128, 0, 8, 0, 8, 1);
      f.target = kPlain;
      w.op(kForge, f);
      w.op(kServe);
      w.op(kGroupPoll);
      break;
    }
    default:  // a request for an element nobody filled in, garbage in the ring, a restart
      w.op(kBarePush);
      w.op(kServe);
      w.op(kGroupPoll);
      wr.at = 64 * 5 + 1;
      wr.len = 4;
      wr.bytes[0] = 0xFF;
      w.op(kRegionWrite, wr);
      w.op(kServe);
      w.op(kRestart, std::uint8_t{0});
      w.op(kForge, clean_forge(0, 1, 2, 3, 4, 5));
      w.op(kServe);
      break;
  }
  return w.out;
}

std::vector<std::uint8_t> random_script(ambience::net::testing::Rng& rng) {
  Writer w;
  const int steps = 2 + static_cast<int>(rng.below(20));
  for (int i = 0; i < steps; ++i) {
    const std::uint32_t r = rng.below(100);
    const bool clean = rng.below(10) < 7;
    if (r < 30) {
      ForgeOp f;
      random_bytes(rng, &f, sizeof f);
      if (clean) {
        f.mode &= 7;
        for (auto& a : f.arg)
          if (rng.below(10) < 8) a.sel = 0;
      }
      w.op(kForge, f);
    } else if (r < 42) {
      HonestOp h;
      random_bytes(rng, &h, sizeof h);
      w.op(kHonest, h);
    } else if (r < 62) {
      w.op(kServe);
    } else if (r < 77) {
      w.op(kGroupPoll);
    } else if (r < 95) {
      WriteOp wr;
      random_bytes(rng, &wr, sizeof wr);
      w.op(r < 87 ? kArenaWrite : kElementWrite, wr);
    } else if (r < 96) {
      WriteOp wr;
      random_bytes(rng, &wr, sizeof wr);
      w.op(kRegionWrite, wr);
    } else if (r < 98) {
      w.op(kBarePush);
    } else {
      w.op(kRestart, static_cast<std::uint8_t>(rng.next()));
    }
  }
  return w.out;
}
#endif

}  // namespace

#ifdef AMBIENCE_LIBFUZZER
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  run_script(data, size);
  return 0;
}
#else
int main(int argc, char** argv) {
  const long iterations = argc > 1 ? std::atol(argv[1]) : 20000;
  ambience::net::testing::Rng rng(argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1);
  constexpr long kScenarios = 8;
  for (long it = 0; it < iterations; ++it) {
    const auto script = it < kScenarios ? scenario(static_cast<int>(it)) : random_script(rng);
    ambience::testing::save_fuzz_seed("sharing", it, kScenarios, script.data(), script.size());
    g_script = it;
    run_script(script.data(), script.size());
  }
  const auto& t = g_totals.served;
  const auto at = [&](Status s) { return static_cast<unsigned long long>(t[static_cast<int>(s)]); };
  std::printf(
      "lidl_sharing_fuzz: %ld scripts; requests answered ok %llu, bad_message %llu, access_denied %llu, "
      "not_found %llu; %llu restarts\n",
      iterations, at(Status::ok), at(Status::bad_message), at(Status::access_denied), at(Status::not_found),
      static_cast<unsigned long long>(g_totals.restarts));
  // Both outcomes must be common, or the driver has stopped exercising one of them.
  return at(Status::ok) > 0 && at(Status::bad_message) > 0 && at(Status::access_denied) > 0 ? 0 : 1;
}
#endif
