// Hosted IPC benchmark: argument-passing strategies, throughput vs requests in flight,
// same-group vs cross-group, coroutine frames vs fiber stacks. Every figure is measured against a
// baseline in the same run; see README.md for the method. Prints a table and RESULT lines and
// writes results as JSON (for the plots) to --json.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "benchmarks/ipc/ipc_bench.lidl.hpp"
#include "kernel/arch/hosted_linux/node.hpp"
#include "kernel/core/fiber.hpp"
#include "kernel/core/job.hpp"
#include "kernel/core/task.hpp"
#include "runtime/hosted/hosted_node.hpp"
#include "runtime/hosted/lidl_sharing.hpp"
#include "runtime/hosted/transport.hpp"

using namespace ambience;
using namespace ambience::hosted;

namespace {

// ------------------------------------------------------------------ payload shapes and codecs

enum class FieldType : std::uint8_t { u8 = 1, u16, u32, u64, span };
std::size_t width(FieldType t) {
  switch (t) {
    case FieldType::u8: return 1;
    case FieldType::u16: return 2;
    case FieldType::u32: return 4;
    case FieldType::u64: return 8;
    default: return 16;
  }
}

// Uniform: S/4 u32 fields. Mixed: greedy u64,u32,u16,u8,u8 cycle filling S bytes.
std::vector<FieldType> shape(bool mixed, std::size_t bytes) {
  std::vector<FieldType> out;
  if (!mixed) {
    for (std::size_t i = 0; i < bytes / 4; ++i) out.push_back(FieldType::u32);
    return out;
  }
  const FieldType cycle[] = {FieldType::u64, FieldType::u32, FieldType::u16, FieldType::u8, FieldType::u8};
  std::size_t used = 0, k = 0;
  while (used < bytes) {
    FieldType t = cycle[k++ % 5];
    while (width(t) > bytes - used) t = static_cast<FieldType>(static_cast<int>(t) - 1);
    out.push_back(t);
    used += width(t);
  }
  return out;
}

// "User" / "Linux" serialization: per field a type tag and the little-endian value; a span is
// tag + u64 length + the bytes. Decoding validates every tag and length.
struct Serializer {
  static std::size_t size(const std::vector<FieldType>& s) {
    std::size_t n = 0;
    for (auto t : s) n += 1 + width(t);
    return n;
  }
  static std::size_t write(std::byte* out, const std::vector<FieldType>& s, const void* const* fields) {
    std::size_t at = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
      out[at++] = static_cast<std::byte>(s[i]);
      std::memcpy(out + at, fields[i], width(s[i]));
      at += width(s[i]);
    }
    return at;
  }
  // Reads into `values` (packed); returns bytes consumed or 0 if invalid.
  static std::size_t read(const std::byte* in, std::size_t n, std::byte* values, std::size_t max_values) {
    std::size_t at = 0, v = 0;
    while (at < n) {
      const auto t = static_cast<FieldType>(in[at++]);
      if (t < FieldType::u8 || t > FieldType::u64) return 0;
      const std::size_t w = width(t);
      if (at + w > n || v + w > max_values) return 0;
      std::memcpy(values + v, in + at, w);
      at += w;
      v += w;
    }
    return at;
  }
};

// Values of one payload: packed bytes plus pointers to each field (the Dynamic strategy's list).
struct Payload {
  std::vector<FieldType> fields;
  std::vector<std::byte> packed;
  std::vector<const void*> pointers;
  Payload(bool mixed, std::size_t bytes) : fields(shape(mixed, bytes)), packed(bytes) {
    for (std::size_t i = 0; i < bytes; ++i) packed[i] = static_cast<std::byte>(i * 31 + 7);
    std::size_t at = 0;
    for (auto t : fields) {
      pointers.push_back(packed.data() + at);
      at += width(t);
    }
  }
};

enum Target : std::uint32_t {
  kEchoRaw = 1,      // echo payload bytes (Static / Dynamic)
  kEchoUser = 2,     // validate + deserialize + serialize back (User)
  kTouchSpan = 3,    // payload: BufferRef; touch first and last byte
  kTouchUser = 4,    // payload: BufferRef to a serialized [tag len bytes] message
  kEcho32 = 5,       // u32 -> u32 + 1 (throughput / same-group comparison)
};

// ------------------------------------------------------------------ group services

void echo_raw(void*, ServiceContext& sc, const Channel::Request& r) {
  (void)sc.channel->respond(r, Status::ok, r.header.size);
}

void echo_user(void*, ServiceContext& sc, const Channel::Request& r) {
  std::byte values[256];
  std::byte* p = sc.channel->payload(r.index);
  const std::size_t used = Serializer::read(p, r.header.size, values, sizeof values);
  if (used == 0 && r.header.size != 0) {
    (void)sc.channel->respond(r, Status::bad_message, 0);
    return;
  }
  // Serialize the decoded values back (the reply carries the same fields).
  std::size_t at = 0, v = 0;
  while (at < used) {
    const auto t = static_cast<FieldType>(p[at]);
    const std::size_t w = width(t);
    std::memcpy(p + at + 1, values + v, w);
    at += 1 + w;
    v += w;
  }
  (void)sc.channel->respond(r, Status::ok, static_cast<std::uint32_t>(used));
}

void touch_span(void*, ServiceContext& sc, const Channel::Request& r) {
  BufferRef ref;
  if (r.header.size != sizeof ref) {
    (void)sc.channel->respond(r, Status::bad_message, 0);
    return;
  }
  std::memcpy(&ref, sc.channel->payload(r.index), sizeof ref);
  bool ok = false;
  auto bytes = resolve(sc.peer_arena.data(), sc.peer_arena.size(), ref, ok);
  if (!ok || bytes.empty()) {
    (void)sc.channel->respond(r, Status::bad_message, 0);
    return;
  }
  const std::uint64_t v =
      static_cast<std::uint8_t>(bytes.front()) + static_cast<std::uint8_t>(bytes.back()) + bytes.size();
  std::memcpy(sc.channel->payload(r.index), &v, 8);
  (void)sc.channel->respond(r, Status::ok, 8);
}

void touch_user(void*, ServiceContext& sc, const Channel::Request& r) {
  BufferRef ref;
  std::memcpy(&ref, sc.channel->payload(r.index), sizeof ref);
  bool ok = false;
  auto msg = resolve(sc.peer_arena.data(), sc.peer_arena.size(), ref, ok);
  std::uint64_t len = 0;
  if (ok && msg.size() >= 9 && msg[0] == static_cast<std::byte>(FieldType::span)) std::memcpy(&len, msg.data() + 1, 8);
  if (!ok || msg.size() < 9 || len != msg.size() - 9 || len == 0) {
    (void)sc.channel->respond(r, Status::bad_message, 0);
    return;
  }
  const std::uint64_t v = static_cast<std::uint8_t>(msg[9]) + static_cast<std::uint8_t>(msg.back()) + len;
  std::memcpy(sc.channel->payload(r.index), &v, 8);
  (void)sc.channel->respond(r, Status::ok, 8);
}

void echo32(void*, ServiceContext& sc, const Channel::Request& r) {
  std::uint32_t v;
  std::memcpy(&v, sc.channel->payload(r.index), 4);
  ++v;
  std::memcpy(sc.channel->payload(r.index), &v, 4);
  (void)sc.channel->respond(r, Status::ok, 4);
}

class AdderImpl;
void install_adder(GroupRuntime& rt);

void install(GroupRuntime& rt) {
  install_adder(rt);
  rt.services().add(kEchoRaw, echo_raw, nullptr);
  rt.services().add(kEchoUser, echo_user, nullptr);
  rt.services().add(kTouchSpan, touch_span, nullptr);
  rt.services().add(kTouchUser, touch_user, nullptr);
  rt.services().add(kEcho32, echo32, nullptr);
}

// ------------------------------------------------------------------ timing helpers

double now_s() { return static_cast<double>(arch::now_us()) * 1e-6; }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

void pin_self(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (cpu < 0) {
    CPU_SET(0, &set);
    CPU_SET(1, &set);
  } else {
    CPU_SET(cpu, &set);
  }
  sched_setaffinity(0, sizeof set, &set);
}

struct CpuPlacement {
  const char* name;
  int client_cpu;
  int server_cpu;
};
const CpuPlacement kPlacements[] = {{"unpinned", -1, -1}, {"same", 0, 0}, {"split", 0, 1}};

// ------------------------------------------------------------------ ring strategies (client side)

struct Bench {
  Node* node;
  int g;
  Channel& ch() { return node->channel(g); }
};

// One call of a scalar payload with strategy 0 Static, 1 Dynamic, 2 User.
template <std::size_t S>
struct Fixed {
  std::byte b[S];
};

template <std::size_t S>
void static_copy(std::byte* dst, const std::byte* src) {
  *reinterpret_cast<Fixed<S>*>(dst) = *reinterpret_cast<const Fixed<S>*>(src);
}
using StaticCopy = void (*)(std::byte*, const std::byte*);
StaticCopy static_copy_for(std::size_t s) {
  switch (s) {
    case 4: return static_copy<4>;
    case 8: return static_copy<8>;
    case 16: return static_copy<16>;
    case 32: return static_copy<32>;
    case 64: return static_copy<64>;
    default: return static_copy<128>;
  }
}

Task<Status> scalar_call(Channel* ch, int strategy, const Payload* p, StaticCopy sc, std::byte* out) {
  auto slot = co_await ch->begin();
  if (!slot) co_return slot.status();
  std::byte* dst = ch->payload(slot.index());
  std::uint32_t size = 0;
  std::uint32_t target = kEchoRaw;
  if (strategy == 0) {
    sc(dst, p->packed.data());
    size = static_cast<std::uint32_t>(p->packed.size());
  } else if (strategy == 1) {
    std::size_t at = 0;
    for (std::size_t i = 0; i < p->fields.size(); ++i) {
      switch (p->fields[i]) {
        case FieldType::u8:
          std::memcpy(dst + at, p->pointers[i], 1);
          at += 1;
          break;
        case FieldType::u16:
          std::memcpy(dst + at, p->pointers[i], 2);
          at += 2;
          break;
        case FieldType::u32:
          std::memcpy(dst + at, p->pointers[i], 4);
          at += 4;
          break;
        case FieldType::u64:
          std::memcpy(dst + at, p->pointers[i], 8);
          at += 8;
          break;
        default: break;
      }
    }
    size = static_cast<std::uint32_t>(at);
  } else {
    static std::byte staging[512];  // not in the coroutine frame: keep frames small
    const std::size_t n = Serializer::write(staging, p->fields, p->pointers.data());
    std::memcpy(dst, staging, n);  // the byte copy through the ring
    size = static_cast<std::uint32_t>(n);
    target = kEchoUser;
  }
  ch->header(slot.index())->size = size;
  const auto reply = co_await ch->call(slot, target, 0);
  Status s = reply.status == Status::ok ? reply.remote() : reply.status;
  if (s == Status::ok) {
    const std::byte* src = ch->payload(slot.index());
    if (strategy == 0) {
      sc(out, src);
    } else if (strategy == 1) {
      std::memcpy(out, src, reply.header.size);
    } else {
      static std::byte staging[512];
      std::memcpy(staging, src, reply.header.size);
      if (Serializer::read(staging, reply.header.size, out, 512) == 0) s = Status::bad_message;
    }
  }
  ch->finish(slot);
  co_return s;
}

// Span argument: strategy 0/1 pass the arena buffer by reference; 2 serializes into staging.
Task<Status> span_call(Channel* ch, int strategy, const SharedBuffer* buf, SharedBuffer* staging, std::uint64_t* out) {
  auto slot = co_await ch->begin();
  if (!slot) co_return slot.status();
  BufferRef ref;
  std::uint32_t target = kTouchSpan;
  SharedBuffer hold;  // the call keeps the buffer alive (refcount) until the reply
  if (strategy <= 1) {
    hold = *buf;
    ref = hold.ref();
  } else {
    std::byte* m = staging->data();
    m[0] = static_cast<std::byte>(FieldType::span);
    const std::uint64_t len = buf->size();
    std::memcpy(m + 1, &len, 8);
    std::memcpy(m + 9, buf->data(), buf->size());
    ref = BufferRef{staging->ref().offset, len + 9};
    target = kTouchUser;
  }
  std::memcpy(ch->payload(slot.index()), &ref, sizeof ref);
  ch->header(slot.index())->size = sizeof ref;
  const auto reply = co_await ch->call(slot, target, 0);
  const Status s = reply.status == Status::ok ? reply.remote() : reply.status;
  if (s == Status::ok) std::memcpy(out, ch->payload(slot.index()), 8);
  ch->finish(slot);
  co_return s;
}

// Runs `make_call` in a loop for ~`seconds` with `inflight` concurrent callers; returns calls/s.
template <class MakeCall>
double run_loop(Node& node, int inflight, double seconds, MakeCall make_call, int min_calls = 3) {
  struct State {
    double deadline;
    long calls = 0;
    int running = 0;
    bool failed = false;
  } st;
  st.deadline = now_s() + seconds;
  auto worker = [](State* s, MakeCall* mk, int min_c) -> Task<void> {
    while (now_s() < s->deadline || s->calls < min_c) {
      for (int i = 0; i < 8; ++i) {  // read the clock every 8 calls only
        const Status r = co_await (*mk)();
        if (r != Status::ok) {
          s->failed = true;
          co_return;
        }
        ++s->calls;
      }
    }
  };
  auto counted = [](State* s, Task<void> inner) -> Task<void> {
    co_await inner;
    --s->running;
  };
  const double t0 = now_s();
  for (int i = 0; i < inflight; ++i) {
    ++st.running;
    (void)spawn(counted(&st, worker(&st, &make_call, min_calls)));
  }
  node.run_until([&] { return st.running == 0; });
  const double elapsed = now_s() - t0;
  if (st.failed) {
    std::fprintf(stderr, "benchmark call failed\n");
    std::exit(2);
  }
  return static_cast<double>(st.calls) / elapsed;
}

// ------------------------------------------------------------------ Linux pipes baseline

// Child: reads frames [u32 len][serialized], replies [u32 len][serialized] (echo values) or,
// for span frames, [u32 8][u64]. Batches: reads all available, answers all in one write.
int pipe_server(int in, int out) {
  std::vector<std::byte> buf(40u << 20), reply(1 << 20);
  std::size_t have = 0;
  for (;;) {
    const ssize_t n = read(in, buf.data() + have, buf.size() - have);
    if (n <= 0) return 0;
    have += static_cast<std::size_t>(n);
    std::size_t at = 0, rn = 0;
    while (have - at >= 4) {
      std::uint32_t len;
      std::memcpy(&len, buf.data() + at, 4);
      if (have - at < 4 + std::size_t{len}) break;
      const std::byte* m = buf.data() + at + 4;
      if (len >= 9 && m[0] == static_cast<std::byte>(FieldType::span)) {
        std::uint64_t blen;
        std::memcpy(&blen, m + 1, 8);
        const std::uint64_t v = static_cast<std::uint8_t>(m[9]) + static_cast<std::uint8_t>(m[len - 1]) + blen;
        const std::uint32_t eight = 8;
        std::memcpy(reply.data() + rn, &eight, 4);
        std::memcpy(reply.data() + rn + 4, &v, 8);
        rn += 12;
      } else {
        std::byte values[256];
        const std::size_t used = Serializer::read(m, len, values, sizeof values);
        // Re-serialize (same work as the ring's User server).
        std::memcpy(reply.data() + rn, &len, 4);
        std::size_t a = 0, v = 0;
        while (a < used) {
          const std::size_t w = width(static_cast<FieldType>(m[a]));
          reply[rn + 4 + a] = m[a];
          std::memcpy(reply.data() + rn + 4 + a + 1, values + v, w);
          a += 1 + w;
          v += w;
        }
        rn += 4 + len;
      }
      at += 4 + len;
      if (rn > reply.size() - 512) break;
    }
    std::memmove(buf.data(), buf.data() + at, have - at);
    have -= at;
    for (std::size_t w = 0; w < rn;) {
      const ssize_t k = write(out, reply.data() + w, rn - w);
      if (k <= 0) return 1;
      w += static_cast<std::size_t>(k);
    }
  }
}

struct PipePeer {
  pid_t pid = -1;
  int to = -1, from = -1;
  void start(int cpu) {
    int a[2], b[2];
    if (pipe2(a, O_CLOEXEC) != 0 || pipe2(b, O_CLOEXEC) != 0) std::exit(2);
    fcntl(a[1], F_SETPIPE_SZ, 1 << 20);
    fcntl(b[1], F_SETPIPE_SZ, 1 << 20);
    pid = fork();
    if (pid == 0) {
      prctl_pdeath();
      if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        sched_setaffinity(0, sizeof set, &set);
      }
      close(a[1]);
      close(b[0]);
      _exit(pipe_server(a[0], b[1]));
    }
    close(a[0]);
    close(b[1]);
    to = a[1];
    from = b[0];
  }
  static void prctl_pdeath();
  void stop() {
    if (pid > 0) {
      close(to);
      close(from);
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      pid = -1;
    }
  }
};

}  // namespace

#include <sys/prctl.h>
void PipePeer::prctl_pdeath() { prctl(PR_SET_PDEATHSIG, SIGKILL); }

namespace {

void write_all(int fd, const std::byte* p, std::size_t n) {
  while (n > 0) {
    const ssize_t k = write(fd, p, n);
    if (k <= 0) std::exit(2);
    p += k;
    n -= static_cast<std::size_t>(k);
  }
}

// Pipes client with `inflight` requests outstanding; batches all writes of one round.
// frame: the serialized request (without length prefix). Returns calls/s.
double pipe_loop(PipePeer& peer, const std::vector<std::byte>& frame, int inflight, double seconds, int min_calls = 3) {
  std::vector<std::byte> out((frame.size() + 4) * inflight), in(1 << 20);
  const std::uint32_t len = static_cast<std::uint32_t>(frame.size());
  auto fill = [&](int k) {
    for (int i = 0; i < k; ++i) {
      std::memcpy(out.data() + i * (frame.size() + 4), &len, 4);
      std::memcpy(out.data() + i * (frame.size() + 4) + 4, frame.data(), frame.size());
    }
    return static_cast<std::size_t>(k) * (frame.size() + 4);
  };
  const double t0 = now_s(), deadline = t0 + seconds;
  long done = 0, sent = 0;
  write_all(peer.to, out.data(), fill(inflight));
  sent = inflight;
  std::size_t have = 0;
  while (done < sent) {
    const ssize_t n = read(peer.from, in.data() + have, in.size() - have);
    if (n <= 0) std::exit(2);
    have += static_cast<std::size_t>(n);
    std::size_t at = 0;
    int replies = 0;
    while (have - at >= 4) {
      std::uint32_t rl;
      std::memcpy(&rl, in.data() + at, 4);
      if (have - at < 4 + std::size_t{rl}) break;
      at += 4 + rl;
      ++replies;
    }
    std::memmove(in.data(), in.data() + at, have - at);
    have -= at;
    done += replies;
    if (replies > 0 && (now_s() < deadline || done < min_calls)) {
      write_all(peer.to, out.data(), fill(replies));  // one write for the whole batch
      sent += replies;
    }
  }
  return static_cast<double>(done) / (now_s() - t0);
}

// ------------------------------------------------------------------ same group vs cross group

// One implementation of the generated interface ipcbench.Adder; where it runs is configuration.
class AdderImpl final : public ipcbench::Adder {
 public:
  Task<std::uint32_t> add(std::uint32_t a, std::uint32_t b) override { co_return a + b; }
};
constexpr std::uint32_t kAdderTarget = 20;
constexpr std::uint32_t kBulkShared = 21, kBulkSerialized = 22, kDriverTarget = 23;

// Touches the first and last byte (like touch_span): the figure is the cost of getting the span
// to the callee, not of reading it.
class BulkImpl final : public ipcbench::Bulk {
 public:
  Task<std::uint64_t> touch(std::span<const std::uint8_t> data) override {
    if (data.empty()) co_return 0;
    co_return std::uint64_t{data.front()} + data.back() + data.size();
  }
};

// ------------------------------------------------------------------ output

struct Row {
  std::string section, strategy, payload, placement;
  double value;
  std::string unit;
};
std::vector<Row> g_rows;
void row(const std::string& section, const std::string& strategy, const std::string& payload,
         const std::string& placement, double value, const std::string& unit) {
  g_rows.push_back({section, strategy, payload, placement, value, unit});
}
void result(const char* id, double value, const char* unit, double baseline = -1, double ratio = -1) {
  std::printf("RESULT %s value=%.4g unit=%s", id, value, unit);
  if (baseline >= 0) std::printf(" baseline=%.4g", baseline);
  if (ratio >= 0) std::printf(" ratio=%.4g", ratio);
  std::printf("\n");
}

std::unique_ptr<Node> make_node(const CpuPlacement& pl, std::size_t arena_bytes) {
  pin_self(pl.client_cpu);
  auto node = std::make_unique<Node>();
  GroupOptions o;
  o.name = "server";
  o.ring = ipc::RingConfig{256, 16, 192};
  o.kernel_arena_bytes = arena_bytes;
  o.cpu = pl.server_cpu;
  node->add_group(o);
  if (node->start() != Status::ok) {
    std::fprintf(stderr, "cannot start the node\n");
    std::exit(2);
  }
  // Warm up: the group process must be running (exec, mapping, sandbox) before we measure.
  Channel* ch = &node->channel(0);
  Payload p(false, 4);
  std::byte out[64];
  run_loop(
      *node, 4, 0.02, [&]() { return scalar_call(ch, 0, &p, static_copy_for(4), out); }, 100);
  return node;
}

template <class Interface>
void serve_serialized(GroupRuntime& rt, std::uint32_t target, Interface& impl) {
  static node::LidlEntry entries[] = {{Interface::schema_hash, &impl, &node::dispatch_as<Interface>}};
  static node::LidlTarget lidl_target{entries};
  rt.services().add(target, &node::serve_lidl, &lidl_target);
}

// In group "driver": calls Bulk.touch in group "server" through the supervisor, zero-copy or
// serialized, with bytes that lie in its own arena.
class DriverImpl final : public ipcbench::Driver {
 public:
  DriverImpl(GroupRuntime& rt)
      : rt_(rt),
        sharing_(rt.channel(), kBulkShared),
        shared_(sharing_),
        transport_(rt.channel(), kBulkSerialized),
        serialized_(transport_, req_, rep_) {}
  Task<std::uint64_t> drive(std::uint32_t size, std::uint32_t calls, bool serialized) override {
    if (!data_ || data_.size() < size) data_ = rt_.arena().allocate(size, 64);
    if (!data_) co_return 0;
    for (std::uint32_t i = 0; i < size; i += 4096) data_.data()[i] = static_cast<std::byte>(i >> 12);
    const std::span<const std::uint8_t> data(reinterpret_cast<const std::uint8_t*>(data_.data()), size);
    const std::uint64_t expect = std::uint64_t{data.front()} + data.back() + data.size();
    ipcbench::Bulk& bulk = serialized ? static_cast<ipcbench::Bulk&>(serialized_) : shared_;
    const std::uint64_t t0 = arch::now_us();
    for (std::uint32_t i = 0; i < calls; ++i) {
      if (co_await bulk.touch(data) != expect) co_return 0;  // a wrong answer is no figure
    }
    co_return std::max<std::uint64_t>(1, (arch::now_us() - t0) * 1000);
  }
  Task<std::uint64_t> copied() override { co_return sharing_.stats().bytes_copied; }

 private:
  GroupRuntime& rt_;
  SharedBuffer data_;
  node::GroupSharing<ipcbench::Bulk> sharing_;
  ipcbench::BulkZeroCopyClient<node::GroupSharing<ipcbench::Bulk>> shared_;
  ChannelTransport transport_;
  lidl::HeapMessageBuffer req_, rep_;
  ipcbench::BulkRpcClient<ChannelTransport> serialized_;
};

void install_adder(GroupRuntime& rt) {
  if (rt.name() == "driver") {
    static DriverImpl driver(rt);
    serve_serialized<ipcbench::Driver>(rt, kDriverTarget, driver);
    return;
  }
  static AdderImpl impl;
  serve_serialized<ipcbench::Adder>(rt, kAdderTarget, impl);
  static BulkImpl bulk;
  static SharingServer<ipcbench::Bulk> shared(bulk, &rt.arena());
  shared.install(rt.services(), kBulkShared);
  static node::LidlEntry bulk_entries[] = {{ipcbench::Bulk::schema_hash, &bulk, &node::dispatch_as<ipcbench::Bulk>}};
  static node::LidlTarget bulk_target{bulk_entries};
  rt.services().add(kBulkSerialized, &node::serve_lidl, &bulk_target);
}

}  // namespace

int main(int argc, char** argv) {
  run_group_if_requested(argc, argv, install);
  const char* json_path = nullptr;
  double scale = 1.0;
  int reps = 3;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--json") == 0 && i + 1 < argc) json_path = argv[++i];
    if (std::strcmp(argv[i], "--quick") == 0) {
      scale = 0.25;
      reps = 1;
    }
  }
  const double t_short = 0.03 * scale, t_tp = 0.12 * scale;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--tp") == 0 && i + 2 < argc) {
      // One throughput configuration for profiling: --tp <in flight> <placement index 0..2>.
      const int k = std::atoi(argv[i + 1]);
      const CpuPlacement& pl = kPlacements[std::atoi(argv[i + 2])];
      auto node = make_node(pl, 1 << 20);
      Channel* ch = &node->channel(0);
      Payload p(false, 16);
      std::byte out[64];
      const double rate = run_loop(
          *node, k, 2.0, [&]() { return scalar_call(ch, 0, &p, static_copy_for(16), out); }, k);
      double prate = 0;
      if (i + 3 >= argc || std::strcmp(argv[i + 3], "ring") != 0) {
        PipePeer pipes;
        pipes.start(pl.server_cpu);
        std::vector<std::byte> frame(Serializer::size(p.fields));
        Serializer::write(frame.data(), p.fields, p.pointers.data());
        prate = pipe_loop(pipes, frame, k, 1.0, k);
        pipes.stop();
      }
      std::printf("%s k=%d ring %.0f calls/s, pipes %.0f calls/s\n", pl.name, k, rate, prate);
      return 0;
    }
    if (std::strcmp(argv[i], "--diag") == 0) {
      // Latency diagnosis: 1 in flight per placement, with the supervisor's spin statistics.
      for (const CpuPlacement& pl : kPlacements) {
        auto node = make_node(pl, 1 << 20);
        Channel* ch = &node->channel(0);
        Payload p(false, 16);
        std::byte out[64];
        auto& h = node->idle_hook();
        const auto hits0 = h.spin_hits, misses0 = h.spin_misses, sleeps0 = h.sleeps;
        const double rate = run_loop(*node, 1, 0.3, [&]() { return scalar_call(ch, 0, &p, static_copy_for(16), out); });
        std::printf("%-9s rtt %.2f us  hits %llu misses %llu sleeps %llu spin_now %u us\n", pl.name, 1e6 / rate,
                    static_cast<unsigned long long>(h.spin_hits - hits0),
                    static_cast<unsigned long long>(h.spin_misses - misses0),
                    static_cast<unsigned long long>(h.sleeps - sleeps0), h.spin_current_us);
      }
      return 0;
    }
  }
  std::printf("ambience IPC benchmark: %ld CPUs online; medians of %d repetitions\n", sysconf(_SC_NPROCESSORS_ONLN),
              reps);
  std::printf("client = supervisor (kernel group); server = sandboxed group process; pipes = forked process\n\n");

  const std::size_t kArena = 40u << 20;
  const char* strategies[] = {"static", "dynamic", "user", "linux"};
  const std::size_t scalar_sizes[] = {4, 8, 16, 32, 64, 128};
  const std::size_t buffer_sizes[] = {1u << 10, 4u << 10, 64u << 10, 1u << 20, 16u << 20};

  // ---------------- 1. argument passing, 1 in flight, unpinned
  std::printf("== argument passing: round trip, 1 request in flight, unpinned (us/call) ==\n");
  std::printf("%-22s %10s %10s %10s %10s\n", "payload", "static", "dynamic", "user", "linux");
  double rtt_static_16 = 0, rtt_linux_16 = 0, span4k = 0, span16m = 0, span1m = 0, linux1m = 0;
  {
    auto node = make_node(kPlacements[0], kArena);
    PipePeer pipes;
    pipes.start(-1);
    Channel* ch = &node->channel(0);
    for (int mixed = 0; mixed < 2; ++mixed) {
      for (std::size_t s : scalar_sizes) {
        if (mixed == 0 && s < 4) continue;
        Payload p(mixed != 0, s);
        StaticCopy sc = static_copy_for(s);
        std::byte out[512];
        double us[4];
        for (int strat = 0; strat < 4; ++strat) {
          std::vector<double> v;
          for (int r = 0; r < reps; ++r) {
            double rate;
            if (strat < 3) {
              auto mk = [&, strat]() { return scalar_call(ch, strat, &p, sc, out); };
              rate = run_loop(*node, 1, t_short, mk);
            } else {
              std::vector<std::byte> frame(Serializer::size(p.fields));
              Serializer::write(frame.data(), p.fields, p.pointers.data());
              rate = pipe_loop(pipes, frame, 1, t_short);
            }
            v.push_back(1e6 / rate);
          }
          us[strat] = median(v);
          row("args", strategies[strat], std::string(mixed ? "mixed " : "uniform ") + std::to_string(s) + " B",
              "unpinned", us[strat], "us");
        }
        if (mixed == 0 && s == 16) {
          rtt_static_16 = us[0];
          rtt_linux_16 = us[3];
        }
        std::printf("%-22s %10.2f %10.2f %10.2f %10.2f\n",
                    (std::string(mixed ? "mixed " : "uniform ") + std::to_string(s) + " B").c_str(), us[0], us[1],
                    us[2], us[3]);
      }
    }
    SharedBuffer staging = node->arena(0).allocate((16u << 20) + 64, 4096);
    for (int aligned = 1; aligned >= 0; --aligned) {
      for (std::size_t s : buffer_sizes) {
        SharedBuffer buf = node->arena(0).allocate(s, 4096, aligned ? 0 : 13);
        std::memset(buf.data(), 0x5a, s);
        double us[4];
        for (int strat = 0; strat < 4; ++strat) {
          std::vector<double> v;
          for (int r = 0; r < reps; ++r) {
            double rate;
            std::uint64_t out = 0;
            if (strat < 3) {
              auto mk = [&, strat]() { return span_call(ch, strat, &buf, &staging, &out); };
              rate = run_loop(*node, 1, t_short, mk);
            } else {
              std::vector<std::byte> frame(9 + s);
              frame[0] = static_cast<std::byte>(FieldType::span);
              const std::uint64_t len = s;
              std::memcpy(frame.data() + 1, &len, 8);
              std::memcpy(frame.data() + 9, buf.data(), s);
              rate = pipe_loop(pipes, frame, 1, t_short);
            }
            v.push_back(1e6 / rate);
          }
          us[strat] = median(v);
          const std::string name =
              std::string("span ") +
              (s >= (1u << 20) ? std::to_string(s >> 20) + " MiB" : std::to_string(s >> 10) + " KiB") +
              (aligned ? " aligned" : " unaligned");
          row("args", strategies[strat], name, "unpinned", us[strat], "us");
        }
        if (aligned) {
          if (s == (4u << 10)) span4k = us[0];
          if (s == (16u << 20)) span16m = us[0];
          if (s == (1u << 20)) {
            span1m = us[0];
            linux1m = us[3];
          }
        }
        const std::string name =
            std::string("span ") +
            (s >= (1u << 20) ? std::to_string(s >> 20) + " MiB" : std::to_string(s >> 10) + " KiB") +
            (aligned ? " aligned" : " unaligned");
        std::printf("%-22s %10.2f %10.2f %10.2f %10.2f\n", name.c_str(), us[0], us[1], us[2], us[3]);
      }
    }
    pipes.stop();
  }

  // ---------------- 2. throughput vs in flight, three placements
  std::printf("\n== echo throughput (k calls/s) vs requests in flight: ring (static) / pipes (batched) ==\n");
  const int inflights[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
  double rtt1[3][2] = {}, tp64[3][2] = {};
  for (int pi = 0; pi < 3; ++pi) {
    const CpuPlacement& pl = kPlacements[pi];
    auto node = make_node(pl, 1 << 20);
    PipePeer pipes;
    pipes.start(pl.server_cpu);
    Channel* ch = &node->channel(0);
    Payload p(false, 16);
    std::vector<std::byte> frame(Serializer::size(p.fields));
    Serializer::write(frame.data(), p.fields, p.pointers.data());
    std::byte out[512];
    std::printf("%-9s", pl.name);
    for (int k : inflights) {
      std::vector<double> ring, pipe;
      for (int r = 0; r < reps; ++r) {
        auto mk = [&]() { return scalar_call(ch, 0, &p, static_copy_for(16), out); };
        ring.push_back(run_loop(*node, k, t_tp, mk, k));
        pipe.push_back(pipe_loop(pipes, frame, k, t_tp, k));
      }
      const double rm = median(ring), pm = median(pipe);
      row("throughput", "ring", std::to_string(k), pl.name, rm, "calls/s");
      row("throughput", "pipes", std::to_string(k), pl.name, pm, "calls/s");
      if (k == 1) {
        rtt1[pi][0] = 1e6 / rm;
        rtt1[pi][1] = 1e6 / pm;
      }
      if (k == 64) {
        tp64[pi][0] = rm;
        tp64[pi][1] = pm;
      }
      std::printf(" %4d:%7.0f/%-7.0f", k, rm / 1e3, pm / 1e3);
      std::fflush(stdout);
    }
    std::printf("\n");
    pipes.stop();
  }
  pin_self(-1);

  // ---------------- 3. same group vs cross group (configuration only)
  std::printf("\n== same group vs cross group: generated ipcbench.Adder, 1 in flight, unpinned (ns/call) ==\n");
  double direct_ns, same_ns, cross_ns;
  {
    auto node = make_node(kPlacements[0], 1 << 20);
    AdderImpl impl;
    DirectChannel<ipcbench::Adder> direct(impl);
    ipcbench::AdderZeroCopyClient<DirectChannel<ipcbench::Adder>> same_group(direct);
    ChannelTransport transport(node->channel(0), kAdderTarget, &node->arena(0), node->group_arena(0));
    lidl::HeapMessageBuffer req, rep;
    ipcbench::AdderRpcClient<ChannelTransport> cross_group(transport, req, rep);
    // The placement picks the client; the calling code below only sees ipcbench::Adder&.
    auto bind = [&](bool in_a_group_process) -> ipcbench::Adder& {
      if (in_a_group_process) return cross_group;
      return impl;  // same group: a direct (virtual) call through the generated interface
    };
    struct S {
      long n = 0;
      bool done = false;
      std::uint32_t sink = 0;
    };
    auto loop_adder = [&](ipcbench::Adder* e, int mode, double seconds) {
      S s;
      auto t = [](ipcbench::Adder* e, AdderImpl* impl, int mode, S* s, double deadline) -> Task<void> {
        std::uint32_t v = 0;
        while (now_s() < deadline) {
          for (int i = 0; i < 64; ++i) {
            if (mode == 0) {
              v = co_await impl->AdderImpl::add(v, 1);  // the same coroutine, called directly
            } else {
              v = co_await e->add(v, 1);
            }
          }
          s->n += 64;
        }
        s->sink = v;
        s->done = true;
      };
      const double t0 = now_s();
      (void)spawn(t(e, &impl, mode, &s, t0 + seconds));
      node->run_until([&] { return s.done; });
      if (s.sink != static_cast<std::uint32_t>(s.n)) {
        std::fprintf(stderr, "adder benchmark: wrong sum\n");
        std::exit(2);
      }
      return (now_s() - t0) * 1e9 / static_cast<double>(s.n);
    };
    std::vector<double> d, sm, zc, cr;
    for (int r = 0; r < reps; ++r) {
      d.push_back(loop_adder(nullptr, 0, t_short * 2));
      sm.push_back(loop_adder(&bind(false), 1, t_short * 2));
      zc.push_back(loop_adder(&same_group, 1, t_short * 2));
      cr.push_back(loop_adder(&bind(true), 1, t_short * 2));
    }
    direct_ns = median(d);
    same_ns = median(sm);
    cross_ns = median(cr);
    const double zero_copy_ns = median(zc);
    std::printf(
        "direct coroutine %.1f | same group via generated interface %.1f | generated zero-copy client + "
        "dispatch_zero_copy %.1f | cross group, generated RPC client over the ring %.1f\n",
        direct_ns, same_ns, zero_copy_ns, cross_ns);
    row("placement", "zero_copy_client", "u32", "unpinned", zero_copy_ns, "ns");
    row("placement", "direct", "u32", "unpinned", direct_ns, "ns");
    row("placement", "same_group", "u32", "unpinned", same_ns, "ns");
    row("placement", "cross_group", "u32", "unpinned", cross_ns, "ns");
  }

  // ---------------- 4. coroutine frames vs fibers (resolver-style server: each request waits)
  // ---------------- 4. generated client, span<u8> into a group process
  std::printf(
      "\n== generated ipcbench.Bulk.touch(span<u8>) into a group process, 1 in flight, unpinned (us/call) ==\n");
  double gen4k = 0, gen16m = 0, gen16m_heap = 0, gen16m_serial = 0;
  {
    auto node = make_node(kPlacements[0], 72u << 20);
    Arena& arena = node->arena(0);
    SharingChannel<ipcbench::Bulk> sharing(node->channel(0), kBulkShared, arena, node->group_arena(0));
    ipcbench::BulkZeroCopyClient<SharingChannel<ipcbench::Bulk>> shared(sharing);
    ChannelTransport transport(node->channel(0), kBulkSerialized, &arena, node->group_arena(0));
    lidl::HeapMessageBuffer req, rep;
    ipcbench::BulkRpcClient<ChannelTransport> serialized(transport, req, rep);
    SharedBuffer in_arena = arena.allocate(16u << 20, 64);
    std::vector<std::uint8_t> on_heap(16u << 20);
    if (!in_arena) {
      std::fprintf(stderr, "arena too small\n");
      return 2;
    }
    for (std::size_t i = 0; i < in_arena.size(); ++i) in_arena.data()[i] = static_cast<std::byte>(i);
    for (std::size_t i = 0; i < on_heap.size(); ++i) on_heap[i] = static_cast<std::uint8_t>(i);
    const std::span<const std::uint8_t> arena16m{reinterpret_cast<const std::uint8_t*>(in_arena.data()),
                                                 in_arena.size()};
    const std::span<const std::uint8_t> arena4k = arena16m.first(4u << 10);
    const std::span<const std::uint8_t> heap16m{on_heap};
    bool wrong = false;
    // us per call: median of `reps` runs of run_loop (1 in flight); checks every answer.
    auto us_per_call = [&](ipcbench::Bulk& client, std::span<const std::uint8_t> data, double seconds) {
      const std::uint64_t expect = std::uint64_t{data.front()} + data.back() + data.size();
      std::vector<double> v;
      for (int r = 0; r < reps; ++r) {
        const double rate = run_loop(
            *node, 1, seconds,
            [&]() -> Task<Status> {
              const std::uint64_t got = co_await client.touch(data);
              if (got != expect) wrong = true;
              co_return Status::ok;
            },
            8);
        v.push_back(1e6 / rate);
      }
      return median(v);
    };
    const SharingStats before = sharing.stats();
    gen4k = us_per_call(shared, arena4k, t_short);
    gen16m = us_per_call(shared, arena16m, t_short);
    const SharingStats in_place = sharing.stats();
    gen16m_heap = us_per_call(shared, heap16m, t_short * 4);
    gen16m_serial = us_per_call(serialized, heap16m, t_short * 4);
    if (wrong || shared.last_status() != Status::ok || serialized.last_status() != Status::ok) {
      std::fprintf(stderr, "generated span benchmark: wrong answer or failed call\n");
      return 2;
    }
    // The in-place figures must not have copied a byte (the stats count every copy).
    const bool no_copy = in_place.bytes_copied == before.bytes_copied && in_place.in_place > before.in_place;
    std::printf(
        "span in the caller's arena: 4 KiB %.2f us, 16 MiB %.2f us (%s); 16 MiB from the heap (one copy "
        "into the arena) %.1f us; serializing client 16 MiB %.1f us\n",
        gen4k, gen16m, no_copy ? "no copy" : "COPIED", gen16m_heap, gen16m_serial);
    if (!no_copy) return 2;
    row("generated_span", "shared_in_place", "4KiB", "unpinned", gen4k, "us");
    row("generated_span", "shared_in_place", "16MiB", "unpinned", gen16m, "us");
    row("generated_span", "shared_one_copy", "16MiB", "unpinned", gen16m_heap, "us");
    row("generated_span", "serializing", "16MiB", "unpinned", gen16m_serial, "us");
  }

  // ---------------- 5. generated client, span<u8> from one group process to another
  std::printf(
      "\n== generated ipcbench.Bulk.touch(span<u8>) group process -> group process through the supervisor, "
      "1 in flight, unpinned (us/call, timed in the calling group) ==\n");
  double g2g4k = 0, g2g16m = 0, g2g4k_serial = 0, g2g16m_serial = 0;
  {
    pin_self(-1);
    Node node;
    GroupOptions server = node::hosted_group_options("server", {1});
    server.kernel_arena_bytes = 40u << 20;  // the serialized relay's copy of a 16 MiB request
    GroupOptions driver = node::hosted_group_options("driver");
    driver.group_arena_bytes = 40u << 20;  // the 16 MiB span + the serialized client's staging copy
    const int s = node.add_group(server);
    const int d = node.add_group(driver);
    const node::GroupGrant grants[] = {{d, node::Grant{~std::uint64_t{0}}}};
    node::SharingRelay shared_relay{&node, kBulkShared, s, grants};
    node::HostedRelay serial_relay{&node, kBulkSerialized, s, nullptr, grants};
    if (!node.services().add(kBulkShared, &node::relay_sharing, &shared_relay) ||
        !node.services().add(kBulkSerialized, &node::relay, &serial_relay) || node.start() != Status::ok) {
      std::fprintf(stderr, "cannot start the group -> group node\n");
      return 2;
    }
    ChannelTransport transport(node.channel(d), kDriverTarget);
    lidl::HeapMessageBuffer req, rep;
    ipcbench::DriverRpcClient<ChannelTransport> drv(transport, req, rep);
    bool failed = false;
    auto run = [&](std::uint32_t size, std::uint32_t calls, bool serialized) {
      std::uint64_t ns = 0;
      bool done = false;
      auto t = [](ipcbench::DriverRpcClient<ChannelTransport>* c, std::uint32_t size, std::uint32_t calls,
                  bool serialized, std::uint64_t* ns, bool* done) -> Task<void> {
        const auto r = co_await c->call_drive(size, calls, serialized);
        *ns = r.ok() ? r.value() : 0;
        *done = true;
      };
      (void)spawn(t(&drv, size, calls, serialized, &ns, &done));
      node.run_until([&] { return done; });
      if (ns == 0) failed = true;
      return static_cast<double>(ns);
    };
    // us per call: calibrated so one run lasts about t_short * 2, median of `reps` runs.
    auto us_per_call = [&](std::uint32_t size, bool serialized) {
      const double first_ns = run(size, 2, serialized) / 2;  // also warms the arenas' pages
      const auto calls =
          static_cast<std::uint32_t>(std::clamp(t_short * 2 * 1e9 / std::max(first_ns, 1.0), 2.0, 20000.0));
      std::vector<double> v;
      for (int r = 0; r < reps; ++r) v.push_back(run(size, calls, serialized) / calls / 1e3);
      return median(v);
    };
    g2g4k = us_per_call(4u << 10, false);
    g2g16m = us_per_call(16u << 20, false);
    g2g4k_serial = us_per_call(4u << 10, true);
    g2g16m_serial = us_per_call(16u << 20, true);
    std::uint64_t copied = 1;
    {
      bool done = false;
      auto t = [](ipcbench::DriverRpcClient<ChannelTransport>* c, std::uint64_t* out, bool* done) -> Task<void> {
        const auto r = co_await c->call_copied();
        *out = r.ok() ? r.value() : 1;
        *done = true;
      };
      (void)spawn(t(&drv, &copied, &done));
      node.run_until([&] { return done; });
    }
    if (failed || shared_relay.denied != 0 || serial_relay.denied != 0) {
      std::fprintf(stderr, "group -> group benchmark: wrong answer or failed call\n");
      return 2;
    }
    std::printf("zero-copy: 4 KiB %.2f us, 16 MiB %.2f us (%s); serialized relay: 4 KiB %.2f us, 16 MiB %.1f us\n",
                g2g4k, g2g16m, copied == 0 ? "no copy" : "COPIED", g2g4k_serial, g2g16m_serial);
    if (copied != 0) return 2;
    row("group_to_group", "shared_in_place", "4KiB", "unpinned", g2g4k, "us");
    row("group_to_group", "shared_in_place", "16MiB", "unpinned", g2g16m, "us");
    row("group_to_group", "serialized_relay", "4KiB", "unpinned", g2g4k_serial, "us");
    row("group_to_group", "serialized_relay", "16MiB", "unpinned", g2g16m_serial, "us");
    node.stop();
  }

  std::printf("\n== per in-flight request: coroutine frame vs fiber stack (256 requests waiting on upstream) ==\n");
  double frame_per_req, fiber_per_req, fiber_touched, coro_rate, fiber_rate;
  {
    constexpr int kN = 256;
    constexpr std::size_t kFiberStack = 32u << 10;
    struct Upstream {
      Job<std::uint32_t> job[kN];
    };
    static Upstream* up = new Upstream();
    static std::uint32_t answers[kN];
    auto handler = [](int i) -> Task<void> {
      // What a resolver does per request: wait for upstream, then write the reply.
      Job<std::uint32_t>* upstream = &up->job[i];
      const std::uint32_t a = co_await *upstream;
      answers[i] = a + 1;
    };
    auto& fa = FrameAllocator::instance();
    // Frame bytes while all requests wait.
    for (auto& j : up->job) j.reset();
    const FrameStats before = fa.stats();
    for (int i = 0; i < kN; ++i) (void)spawn(handler(i));
    Scheduler::current().run_ready();
    const FrameStats during = fa.stats();
    frame_per_req = static_cast<double>(during.live_bytes - before.live_bytes) / kN;
    for (int i = 0; i < kN; ++i) up->job[i].complete(static_cast<std::uint32_t>(i));
    Scheduler::current().run_until_idle();
    for (int i = 0; i < kN; ++i) {
      if (answers[i] != static_cast<std::uint32_t>(i) + 1) {
        std::fprintf(stderr, "resolver benchmark: wrong answer\n");
        return 2;
      }
    }

    static std::vector<std::byte> stacks(kN * kFiberStack);
    static Fiber* fibers[kN];
    struct Arg {
      int i;
    };
    static Arg args[kN];
    auto fiber_entry = [](void* p) {
      const int i = static_cast<Arg*>(p)->i;
      answers[i] = fiber_await(up->job[i]) + 1;
    };
    alignas(Fiber) static std::byte fiber_mem[kN][sizeof(Fiber)];
    auto run_fibers = [&]() {
      for (auto& j : up->job) j.reset();
      for (int i = 0; i < kN; ++i) {
        args[i].i = i;
        fibers[i] = new (fiber_mem[i]) Fiber({stacks.data() + i * kFiberStack, kFiberStack}, fiber_entry, &args[i]);
        fibers[i]->start();
      }
      Scheduler::current().run_ready();
      for (int i = 0; i < kN; ++i) up->job[i].complete(static_cast<std::uint32_t>(i));
      Scheduler::current().run_until_idle();
    };
    auto run_coros = [&]() {
      for (auto& j : up->job) j.reset();
      for (int i = 0; i < kN; ++i) (void)spawn(handler(i));
      Scheduler::current().run_ready();
      for (int i = 0; i < kN; ++i) up->job[i].complete(static_cast<std::uint32_t>(i));
      Scheduler::current().run_until_idle();
    };
    run_fibers();
    fiber_touched = 0;
    for (int i = 0; i < kN; ++i) fiber_touched += static_cast<double>(fibers[i]->stack_high_water());
    fiber_touched /= kN;
    fiber_per_req = kFiberStack;
    auto rate_of = [&](auto fn) {
      std::vector<double> v;
      for (int r = 0; r < reps; ++r) {
        const double t0 = now_s();
        long n = 0;
        while (now_s() - t0 < t_short * 2) {
          fn();
          n += kN;
        }
        v.push_back(static_cast<double>(n) / (now_s() - t0));
      }
      return median(v);
    };
    coro_rate = rate_of(run_coros);
    fiber_rate = rate_of(run_fibers);
    std::printf(
        "coroutine frame %.0f B/request (%.0f k requests/s); fiber stack %.0f B/request (touched %.0f B; %.0f k "
        "requests/s)\n",
        frame_per_req, coro_rate / 1e3, fiber_per_req, fiber_touched, fiber_rate / 1e3);
    row("frames", "coroutine", "bytes", "-", frame_per_req, "B");
    row("frames", "fiber", "bytes", "-", fiber_per_req, "B");
    row("frames", "coroutine", "rate", "-", coro_rate, "requests/s");
    row("frames", "fiber", "rate", "-", fiber_rate, "requests/s");
  }

  // ---------------- summary: targets
  std::printf("\n== targets (ratios from this run) ==\n");
  const double r1 = rtt1[0][1] / rtt1[0][0];
  std::printf("1 in flight unpinned RTT: ring %.2f us vs pipes %.2f us -> %.1fx (target >= 10x)\n", rtt1[0][0],
              rtt1[0][1], r1);
  std::printf("  (same CPU: ring %.2f vs pipes %.2f us; split: ring %.2f vs pipes %.2f us)\n", rtt1[1][0], rtt1[1][1],
              rtt1[2][0], rtt1[2][1]);
  const double r64 = tp64[2][0] / tp64[2][1];
  std::printf("64 in flight split: ring %.0f vs batched pipes %.0f calls/s -> %.1fx (target >= 3x)\n", tp64[2][0],
              tp64[2][1], r64);
  std::printf("same-group glue %.1f ns vs direct coroutine %.1f ns -> %.2fx (target <= 2x); cross/same = %.0fx\n",
              same_ns, direct_ns, same_ns / direct_ns, cross_ns / same_ns);
  std::printf(
      "span 16 MiB %.2f us vs 4 KiB %.2f us -> %.2fx (target <= 2x); pipes/ring at 1 MiB = %.0fx (target >= 50x)\n",
      span16m, span4k, span16m / span4k, linux1m / span1m);
  std::printf(
      "group -> group span 16 MiB %.2f us vs 4 KiB %.2f us -> %.2fx (target <= 2x); serialized relay "
      "16 MiB %.1f us -> %.0fx the zero-copy call\n",
      g2g16m, g2g4k, g2g16m / g2g4k, g2g16m_serial, g2g16m_serial / g2g16m);
  std::printf("coroutine frame %.0f B/request (target <= 256); coroutine/fiber throughput %.1fx (target >= 2x)\n",
              frame_per_req, coro_rate / fiber_rate);
  std::printf("(scalar 16 B, 1 in flight, args table: static %.2f us vs linux %.2f us)\n\n", rtt_static_16,
              rtt_linux_16);

  result("ipc_rtt_c1_unpinned_us", rtt1[0][0], "us", rtt1[0][1], r1);
  result("ipc_rtt_c1_same_cpu_us", rtt1[1][0], "us", rtt1[1][1], rtt1[1][1] / rtt1[1][0]);
  result("ipc_rtt_c1_split_us", rtt1[2][0], "us", rtt1[2][1], rtt1[2][1] / rtt1[2][0]);
  result("ipc_cross_group_rps_c64_split", tp64[2][0], "calls/s", tp64[2][1], r64);
  result("ipc_cross_group_rps_c64_unpinned", tp64[0][0], "calls/s", tp64[0][1], tp64[0][0] / tp64[0][1]);
  result("ipc_cross_group_rps_c64_same_cpu", tp64[1][0], "calls/s", tp64[1][1], tp64[1][0] / tp64[1][1]);
  result("ipc_same_group_glue_ns", same_ns, "ns", direct_ns, same_ns / direct_ns);
  result("ipc_cross_group_call_ns", cross_ns, "ns", same_ns, cross_ns / same_ns);
  result("ipc_span_16mib_vs_4kib", span16m, "us", span4k, span16m / span4k);
  result("ipc_span_1mib_vs_pipes", span1m, "us", linux1m, linux1m / span1m);
  result("ipc_generated_span_16mib_vs_4kib", gen16m, "us", gen4k, gen16m / gen4k);
  result("ipc_generated_span_16mib_one_copy_vs_in_place", gen16m_heap, "us", gen16m, gen16m_heap / gen16m);
  result("ipc_generated_span_16mib_serializing_vs_shared", gen16m_serial, "us", gen16m, gen16m_serial / gen16m);
  result("ipc_group_to_group_span_16mib_vs_4kib", g2g16m, "us", g2g4k, g2g16m / g2g4k);
  result("ipc_group_to_group_serialized_16mib_vs_4kib", g2g16m_serial, "us", g2g4k_serial,
         g2g16m_serial / g2g4k_serial);
  result("ipc_group_to_group_16mib_serialized_vs_shared", g2g16m_serial, "us", g2g16m, g2g16m_serial / g2g16m);
  result("ipc_coroutine_frame_bytes_per_request", frame_per_req, "B", fiber_per_req, fiber_per_req / frame_per_req);
  result("ipc_coroutine_vs_fiber_rps", coro_rate, "requests/s", fiber_rate, coro_rate / fiber_rate);
  for (const Row& r : g_rows) {
    if (r.section != "args") continue;
    std::string id = "ipc_args_" + r.strategy + "_" + r.payload;
    for (char& c : id) c = (c == ' ') ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    result(id.c_str(), r.value, "us");
  }

  if (json_path != nullptr) {
    FILE* f = std::fopen(json_path, "w");
    if (f != nullptr) {
      std::fprintf(f, "[\n");
      for (std::size_t i = 0; i < g_rows.size(); ++i) {
        const Row& r = g_rows[i];
        std::fprintf(f,
                     "  {\"section\": \"%s\", \"strategy\": \"%s\", \"payload\": \"%s\", \"placement\": \"%s\", "
                     "\"value\": %.6g, \"unit\": \"%s\"}%s\n",
                     r.section.c_str(), r.strategy.c_str(), r.payload.c_str(), r.placement.c_str(), r.value,
                     r.unit.c_str(), i + 1 < g_rows.size() ? "," : "");
      }
      std::fprintf(f, "]\n");
      std::fclose(f);
    }
  }
  return 0;
}
