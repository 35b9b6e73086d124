// Re-encoder for the hand-written test schemas (see reencode.hpp for the line protocol), plus a
// C++ demo.Store server: "REQ <hex>" runs the request through the generated dispatch() and
// answers "OK <hex of the reply message>", so Python clients can be tested against C++ servers.
#include <map>

#include "kernel/core/scheduler.hpp"
#include "kernel/core/task.hpp"
#include "lidl/testdata/everything.lidl.hpp"
#include "lidl/testdata/frames.lidl.hpp"
#include "lidl/testing/reencode.hpp"

namespace lidl_testing {

// A small store: put() keeps things by id, get() returns them, checksum() sums its views.
class CppStore final : public demo::StoreSync {
 public:
  std::string name_sync() override { return "c++ store"; }
  std::uint64_t put_sync(const demo::Everything& thing) override {
    things_[++next_] = thing;
    return next_;
  }
  std::optional<demo::Everything> get_sync(std::uint64_t id) override {
    auto it = things_.find(id);
    if (it == things_.end()) return std::nullopt;
    return it->second;
  }
  void clear_sync() override { things_.clear(); }
  std::uint32_t checksum_sync(std::span<const std::uint8_t> data, std::string_view label,
                              std::span<const demo::Point> points) override {
    std::uint32_t s = 0;
    for (auto b : data) s = s * 31 + b;
    for (auto c : label) s = s * 31 + static_cast<unsigned char>(c);
    for (const auto& p : points) s = s * 31 + static_cast<std::uint32_t>(p.x - p.y);
    return s;
  }

 private:
  std::map<std::uint64_t, demo::Everything> things_;
  std::uint64_t next_ = 0;
};

std::string serve(CppStore& store, const std::byte* d, std::size_t n) {
  ambience::lidl::HeapMessageBuffer reply;
  auto run = [](CppStore& s, std::span<const std::byte> req,
                ambience::lidl::MessageBuffer& out) -> ambience::Task<void> { co_await demo::dispatch(s, req, out); };
  if (ambience::spawn(run(store, {d, n}, reply)) != ambience::Status::ok) return "ERR no_memory";
  ambience::Scheduler::current().run_until_idle();
  static const char* hex = "0123456789abcdef";
  std::string s = "OK ";
  for (std::byte b : reply.message()) {
    s += hex[std::to_integer<unsigned>(b) >> 4];
    s += hex[std::to_integer<unsigned>(b) & 15];
  }
  return s;
}

// Client mode: the generated C++ StoreRpcClient calls a server on the other end of stdin/stdout
// (lines "REQ <hex>" out, "<hex>" reply in), i.e. a Python implementation in the test.
struct PipeTransport {
  ambience::Task<ambience::Status> call(std::span<const std::byte> request, ambience::lidl::MessageBuffer& reply) {
    static const char* hex = "0123456789abcdef";
    std::string line = "REQ ";
    for (std::byte b : request) {
      line += hex[std::to_integer<unsigned>(b) >> 4];
      line += hex[std::to_integer<unsigned>(b) & 15];
    }
    std::cout << line << std::endl;
    std::string in;
    if (!std::getline(std::cin, in)) co_return ambience::Status::unavailable;
    auto out = reply.prepare(in.size() / 2);
    if (out.size() != in.size() / 2) co_return ambience::Status::no_memory;
    for (std::size_t i = 0; i < out.size(); ++i)
      out[i] = static_cast<std::byte>(nibble(in[2 * i]) * 16 + nibble(in[2 * i + 1]));
    co_return ambience::Status::ok;
  }
};

int failures = 0;
void expect(bool ok, const char* what) {
  std::cout << (ok ? "PASS " : "FAIL ") << what << std::endl;
  if (!ok) ++failures;
}

ambience::Task<void> client_calls() {
  PipeTransport t;
  ambience::lidl::HeapMessageBuffer req, rep;
  demo::StoreRpcClient<PipeTransport> client(t, req, rep);
  expect(co_await client.name() == "python store", "name");
  demo::Everything e;
  e.text = "from c++";
  e.blob = {1, 2, 3};
  e.points = {{5, 6}};
  e.shapes.push_back(demo::Shape::make_label("s"));
  e.maybe = 9u;
  const std::uint64_t id = co_await client.put(e);
  expect(id == 1, "put");
  auto got = co_await client.get(id);
  expect(got.has_value() && *got == e, "get");
  const std::uint8_t data[] = {1, 2, 3, 4};
  const demo::Point pts[] = {{7, 3}};
  expect(co_await client.checksum(data, "ab", pts) == 10u + 'a' + 'b' + 4u, "checksum with views");
  co_await client.clear();
  expect(client.last_status() == ambience::Status::ok, "clear");
  auto missing = co_await client.call_get(id);
  expect(missing.ok() && !missing.value().has_value(), "get after clear");
  std::cout << "DONE" << std::endl;
}

int run_client() {
  if (ambience::spawn(client_calls()) != ambience::Status::ok) return 2;
  ambience::Scheduler::current().run_until_idle();
  return failures == 0 ? 0 : 1;
}

}  // namespace lidl_testing

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "client") return lidl_testing::run_client();
  using lidl_testing::reencode;
  static lidl_testing::CppStore store;
  return lidl_testing::run_reencoder([](const std::string& type, const std::byte* d, std::size_t n) -> std::string {
    if (type == "REQ") return lidl_testing::serve(store, d, n);
    if (type == "demo.Everything") return reencode<demo::Everything>(d, n);
    if (type == "demo.Tree") return reencode<demo::Tree>(d, n);
    if (type == "demo.Shape") return reencode<demo::Shape>(d, n);
    if (type == "demo.Mixed") return reencode<demo::Mixed>(d, n);
    if (type == "demo.Padded") return reencode<demo::Padded>(d, n);
    if (type == "camera_trap.Frame") return reencode<camera_trap::Frame>(d, n);
    if (type == "camera_trap.Sighting") return reencode<camera_trap::Sighting>(d, n);
    return "ERR unknown_type";
  });
}
