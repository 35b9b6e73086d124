// Decoder hardening: feeds arbitrary bytes to the validator, decoder and in-place views of the
// generated test types, and to the RPC dispatcher.  Any crash, sanitizer report or a value that
// validates but does not re-encode to a message that validates again is a bug.
//
// Two ways to run it:
//   * libFuzzer (clang, ASan, UBSan; AMBIENCE_LIBFUZZER defined): //tests/fuzz:decode_fuzz_libfuzzer_test
//     for a bounded run, `bazel run //tests/fuzz:campaign -- --minutes N` for long ones
//   * built-in driver (any compiler, used by the tests): decode_fuzz [--iterations N] [--seed S]
//     [FILE...] — mutates valid messages of every type with a deterministic PRNG; files given on the
//     command line are run as inputs first.  Under `bazel test --config=asan` this runs with ASan/UBSan.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernel/core/scheduler.hpp"
#include "kernel/core/task.hpp"
#include "kernel/testing/fuzz_seeds.hpp"
#include "lidl/testdata/everything.lidl.hpp"
#include "lidl/testdata/frames.lidl.hpp"

namespace lidl_fuzz {

namespace wire = ambience::lidl;

std::vector<std::uint64_t> g_aligned;
std::vector<std::uint64_t> g_again;

// Touches every field through the view (in-place reads must stay in bounds after validation).
std::uint64_t touch(const demo::TreeView& t, int depth) {
  std::uint64_t h = t.name().size();
  if (depth > 70) return h;
  for (std::size_t i = 0; i < t.children().size(); ++i) h += touch(t.children()[i], depth + 1);
  return h;
}

std::uint64_t touch(const demo::EverythingView& v) {
  std::uint64_t h = v.flag() + static_cast<std::uint64_t>(v.color()) + v.text().size() + v.blob().size();
  for (std::size_t i = 0; i < v.points().size(); ++i) h += static_cast<std::uint64_t>(v.points()[i].x());
  for (std::size_t i = 0; i < v.words().size(); ++i) h += v.words()[i].size();
  for (auto b : v.grid()) h += b;
  if (v.maybe()) h += *v.maybe();
  if (v.maybe_point()) h += static_cast<std::uint64_t>(v.maybe_point().value().y());
  for (std::size_t i = 0; i < v.shapes().size(); ++i) {
    auto s = v.shapes()[i];
    switch (s.kind()) {
      case demo::Shape::Kind::dot: h += static_cast<std::uint64_t>(s.dot().x()); break;
      case demo::Shape::Kind::label: h += s.label().size(); break;
      case demo::Shape::Kind::nothing: h += 1; break;
      case demo::Shape::Kind::level: h += static_cast<std::uint64_t>(s.level()); break;
    }
  }
  for (std::size_t i = 0; i < v.nested().size(); ++i) h += v.nested()[i].size();
  h += v.boxed().value().size() + touch(v.tree(), 0) + v.padded().wide();
  return h;
}

template <class T>
void check_type(const std::byte* data, std::size_t size) {
  if (wire::validate<T>({data, size}) != wire::WireError::none) return;
  T value{};
  if (wire::decode<T>({data, size}, value) != wire::WireError::none) std::abort();  // validate/decode disagree
  if constexpr (std::is_same_v<T, demo::Everything>) {
    volatile std::uint64_t sink = touch(wire::view<T>({data, size}));
    (void)sink;
  }
  // The owned value re-encodes canonically, and that encoding validates and decodes to it.
  const std::size_t n = wire::compute_size(value);
  g_again.assign(n / 8 + 1, 0);
  auto* out = reinterpret_cast<std::byte*>(g_again.data());
  if (wire::encode(value, std::span<std::byte>(out, n)) != n) std::abort();
  T again{};
  if (wire::decode<T>({out, n}, again) != wire::WireError::none) std::abort();
  if (!(again == value)) std::abort();
}

class NullStore final : public demo::StoreSync {
 public:
  std::string name_sync() override { return "fuzz"; }
  std::uint64_t put_sync(const demo::Everything& e) override { return e.text.size(); }
  std::optional<demo::Everything> get_sync(std::uint64_t) override { return std::nullopt; }
  void clear_sync() override {}
  std::uint32_t checksum_sync(std::span<const std::uint8_t> d, std::string_view l,
                              std::span<const demo::Point> p) override {
    return static_cast<std::uint32_t>(d.size() + l.size() + p.size());
  }
};

wire::HeapMessageBuffer g_reply;

ambience::Task<void> serve(NullStore& s, std::span<const std::byte> request) {
  const ambience::Status st = co_await demo::dispatch(s, request, g_reply);
  if (st != ambience::Status::ok) std::abort();  // a reply must always be written
  wire::Header h;
  if (!h.read(g_reply.message())) std::abort();
}

int one_input(const std::uint8_t* bytes, std::size_t size) {
  g_aligned.assign(size / 8 + 2, 0);
  auto* data = reinterpret_cast<std::byte*>(g_aligned.data());
  if (size) std::memcpy(data, bytes, size);
  check_type<demo::Everything>(data, size);
  check_type<demo::Tree>(data, size);
  check_type<demo::Shape>(data, size);
  check_type<demo::Padded>(data, size);
  check_type<camera_trap::Frame>(data, size);
  // As a request envelope: make the header plausible half of the time so the payload is reached.
  if (size >= 24 && (bytes[0] & 1)) {
    wire::Header h{wire::kKindRequest, static_cast<std::uint16_t>(bytes[1] % 6), demo::Store::schema_hash, 1, 0};
    h.write(data);
  }
  NullStore store;
  if (ambience::spawn(serve(store, {data, size})) != ambience::Status::ok) std::abort();
  ambience::Scheduler::current().run_until_idle();
  return 0;
}

// --- built-in driver ------------------------------------------------------------------------

struct Rng {
  std::uint64_t s;
  std::uint32_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return static_cast<std::uint32_t>(s);
  }
};

std::vector<std::uint8_t> seed_message(int which) {
  demo::Everything e;
  e.text = "seed";
  e.blob = {1, 2, 3};
  e.points = {{1, 2}};
  e.words = {"x", "yy"};
  e.maybe = 3u;
  e.shapes.push_back(demo::Shape::make_label("l"));
  e.shapes.push_back(demo::Shape::make_dot({1, 1}));
  e.tree.children.push_back(demo::Tree{"c", {demo::Tree{"d", {}}}});
  e.nested = {{1}, {2, 3}};
  std::vector<std::uint8_t> out;
  if (which == 0) {
    out.resize(wire::compute_size(e));
    g_again.assign(out.size() / 8 + 1, 0);
    auto* p = reinterpret_cast<std::byte*>(g_again.data());
    wire::encode(e, std::span<std::byte>(p, out.size()));
    std::memcpy(out.data(), p, out.size());
  } else {
    // A request envelope for Store.put.
    demo::Store_put_Params params{e};
    const std::size_t n = wire::compute_size(params);
    out.resize(24 + n);
    g_again.assign(out.size() / 8 + 1, 0);
    auto* p = reinterpret_cast<std::byte*>(g_again.data());
    wire::Header h{wire::kKindRequest, 1, demo::Store::schema_hash, 9, 0};
    h.write(p);
    wire::encode(params, std::span<std::byte>(p + 24, n));
    std::memcpy(out.data(), p, out.size());
  }
  return out;
}

int driver(int argc, char** argv) {
  long iterations = 20000;
  std::uint64_t seed = 1;
  std::vector<const char*> files;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--iterations") && i + 1 < argc) {
      iterations = std::atol(argv[++i]);
    } else if (!std::strcmp(argv[i], "--seed") && i + 1 < argc) {
      seed = std::strtoull(argv[++i], nullptr, 10);
    } else {
      files.push_back(argv[i]);
    }
  }
  for (const char* f : files) {
    FILE* fp = std::fopen(f, "rb");
    if (!fp) {
      std::fprintf(stderr, "decode_fuzz: cannot open %s\n", f);
      return 1;
    }
    std::vector<std::uint8_t> buf;
    int ch;
    while ((ch = std::fgetc(fp)) != EOF) buf.push_back(static_cast<std::uint8_t>(ch));
    std::fclose(fp);
    one_input(buf.data(), buf.size());
  }
  Rng rng{seed * 0x9E3779B97F4A7C15ull + 1};
  const std::vector<std::uint8_t> seeds[2] = {seed_message(0), seed_message(1)};
  for (long i = 0; i < 2; ++i) ambience::testing::save_fuzz_seed("lidl", i, 2, seeds[i].data(), seeds[i].size());
  for (long it = 0; it < iterations; ++it) {
    std::vector<std::uint8_t> m = seeds[it & 1];
    switch (rng.next() % 4) {
      case 0:  // random bytes
        m.resize(rng.next() % 200);
        for (auto& b : m) b = static_cast<std::uint8_t>(rng.next());
        break;
      case 1:  // truncation
        m.resize(rng.next() % (m.size() + 1));
        break;
      default: {  // a few byte / u32 mutations, biased towards offsets and counts
        const int k = 1 + static_cast<int>(rng.next() % 4);
        for (int j = 0; j < k && !m.empty(); ++j) {
          const std::size_t pos = rng.next() % m.size();
          if (rng.next() & 1) {
            m[pos] = static_cast<std::uint8_t>(rng.next());
          } else {
            const std::uint32_t interesting[] = {
                0, 1, 7, 8, 0xFFFFFFFFu, 0x7FFFFFFFu, 0x80000000u, static_cast<std::uint32_t>(m.size()), rng.next()};
            const std::uint32_t v = interesting[rng.next() % 9];
            for (int b = 0; b < 4 && pos + b < m.size(); ++b) m[pos + b] = static_cast<std::uint8_t>(v >> (8 * b));
          }
        }
      }
    }
    one_input(m.data(), m.size());
  }
  std::printf("decode_fuzz: %ld generated inputs and %zu files, no failures\n", iterations, files.size());
  return 0;
}

}  // namespace lidl_fuzz

#ifdef AMBIENCE_LIBFUZZER
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return lidl_fuzz::one_input(data, size);
}
#else
int main(int argc, char** argv) { return lidl_fuzz::driver(argc, argv); }
#endif
