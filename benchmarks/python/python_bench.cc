// //benchmarks/python: a C++ caller (the supervisor) and a Python service in its own group
// process (runtime/hosted/python), against the same service behind a typical Python IPC server
// measured in the same run (socket_server.py: asyncio over a Unix-domain socket, lidl messages).
// Prints the method, a table and RESULT lines (benchmarks/README.md).
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "benchmarks/python/python_bench.lidl.hpp"
#include "runtime/hosted/hosted_node.hpp"
#include "runtime/hosted/python/python_group.hpp"

namespace pybench_baseline {

// Captures the request message the generated client would send (then fails the call). Outside
// the anonymous namespace: the generated client's coroutine frames hold it.
struct Capture {
  std::vector<std::byte>* out;
  ambience::Task<ambience::Status> call(std::span<const std::byte> request, ambience::lidl::MessageBuffer&) {
    out->assign(request.begin(), request.end());
    co_return ambience::Status::unavailable;
  }
};

}  // namespace pybench_baseline

namespace {

using ambience::Status;
using ambience::Task;
using pybench_baseline::Capture;
using namespace ambience::hosted;
namespace rt = ambience::node;
using Client = pybench::EchoZeroCopyClient<rt::SupervisorSharing<pybench::Echo>>;

double now_us() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

void result(const char* id, double value, const char* unit, double baseline = -1, double ratio = -1) {
  std::printf("RESULT %s value=%.4g unit=%s", id, value, unit);
  if (baseline >= 0) std::printf(" baseline=%.4g", baseline);
  if (ratio >= 0) std::printf(" ratio=%.4g", ratio);
  std::printf("\n");
}

struct Ring {
  Node node;
  int g = -1;
  std::optional<rt::SupervisorSharing<pybench::Echo>> sharing;
  Ring() {
    g = node.add_group(rt::python_group_options("echo"));
    const std::string table =
        "{\"node\": \"bench\", \"groups\": {\"echo\": {\"instances\": [{\"name\": \"echo\", "
        "\"module\": \"benchmarks.python.echo\", \"class\": \"Echo\", \"object_id\": 1, \"serves\": [{\"target\": " +
        std::to_string(rt::sharing_target(1, 0)) +
        ", \"module\": \"benchmarks.python.python_bench_lidl\", \"service\": \"Echo\"}], \"dependencies\": []}]}}}";
    rt::set_python_groups(table.c_str());
    sharing.emplace(node, g, rt::sharing_target(1, 0));
  }
};

// `clients` coroutines each make `per_client` ping calls; every call's latency is recorded.
struct Load {
  std::vector<double> latencies;
  int running = 0;
  int failed = 0;
};

Task<void> pinger(Client* c, int calls, Load* load) {
  const std::string label = "bench";
  for (int i = 0; i < calls; ++i) {
    const double t0 = now_us();
    const std::uint32_t got = co_await c->ping(static_cast<std::uint32_t>(i), label);
    load->latencies.push_back(now_us() - t0);
    if (c->last_status() != Status::ok || got != static_cast<std::uint32_t>(i) + label.size()) ++load->failed;
  }
  --load->running;
}

// Round trips through the ring with `in_flight` concurrent callers; returns (p50 us, calls/s).
std::pair<double, double> ring_pings(Ring& r, int in_flight, int total) {
  std::vector<std::unique_ptr<Client>> clients;
  Load load;
  load.running = in_flight;
  const double t0 = now_us();
  for (int i = 0; i < in_flight; ++i) {
    clients.push_back(std::make_unique<Client>(*r.sharing));
    (void)ambience::spawn(pinger(clients.back().get(), total / in_flight, &load));
  }
  r.node.run_until([&] { return load.running == 0; });
  const double elapsed = now_us() - t0;
  if (load.failed != 0) std::printf("warning: %d ring calls failed\n", load.failed);
  return {median(load.latencies), static_cast<double>(load.latencies.size()) / (elapsed / 1e6)};
}

Task<void> toucher(Client* c, std::span<const std::uint8_t> data, int calls, std::vector<double>* out, bool* done) {
  for (int i = 0; i < calls; ++i) {
    const double t0 = now_us();
    (void)co_await c->touch(data);
    out->push_back(now_us() - t0);
  }
  *done = true;
}

double ring_touch(Ring& r, std::size_t bytes, int calls) {
  SharedBuffer buf = r.node.arena(r.g).allocate(bytes, 64);  // the caller's arena: passed in place
  std::memset(buf.data(), 7, bytes);
  Client c(*r.sharing);
  std::vector<double> lat;
  bool done = false;
  const std::span<const std::uint8_t> data{reinterpret_cast<const std::uint8_t*>(buf.data()), bytes};
  (void)ambience::spawn(toucher(&c, data, calls, &lat, &done));
  r.node.run_until([&] { return done; });
  return median(lat);
}

// ---- the baseline: lidl messages to socket_server.py over a Unix-domain socket

bool write_all(int fd, const void* p, std::size_t n) {
  const auto* c = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t w = ::write(fd, c, n);
    if (w <= 0) return false;
    c += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}
bool read_all(int fd, void* p, std::size_t n) {
  auto* c = static_cast<char*>(p);
  while (n > 0) {
    const ssize_t r = ::read(fd, c, n);
    if (r <= 0) return false;
    c += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

// `batch` requests written back to back, then their replies read: one sample per batch.
std::pair<double, double> socket_pings(int fd, const std::vector<std::byte>& request, int batch, int total) {
  std::vector<char> frame(4 + request.size());
  const std::uint32_t n = static_cast<std::uint32_t>(request.size());
  std::memcpy(frame.data(), &n, 4);
  std::memcpy(frame.data() + 4, request.data(), request.size());
  std::vector<char> out;
  for (int i = 0; i < batch; ++i) out.insert(out.end(), frame.begin(), frame.end());
  std::vector<double> lat;
  std::vector<char> reply;
  const double t0 = now_us();
  for (int done = 0; done < total; done += batch) {
    const double s = now_us();
    if (!write_all(fd, out.data(), out.size())) return {0, 0};
    for (int i = 0; i < batch; ++i) {
      std::uint32_t len = 0;
      if (!read_all(fd, &len, 4)) return {0, 0};
      reply.resize(len);
      if (!read_all(fd, reply.data(), len)) return {0, 0};
    }
    lat.push_back(now_us() - s);
  }
  const double elapsed = now_us() - t0;
  return {median(lat), static_cast<double>(total) / (elapsed / 1e6)};
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const int total = quick ? 2000 : 20000;
  std::printf(
      "benchmarks/python: C++ caller (the supervisor) -> Python service in a sandboxed group process,\n"
      "zero-copy call blocks over the group's ring; baseline in the same run: the same Python service\n"
      "behind asyncio over a Unix-domain socket (lidl messages, generated async dispatcher), and behind a\n"
      "grpcio server called by a grpcio client (same request bytes). %d calls per figure; p50 of per-call\n"
      "(ring, grpcio) or per-batch (socket) latency.\n\n",
      total);
  Ring ring;
  if (ring.node.start() != Status::ok) {
    std::printf("cannot start the node\n");
    return 2;
  }
  (void)ring_pings(ring, 1, 200);  // warm-up: the Python process imports and serves
  const auto [ring1_p50, ring1_rate] = ring_pings(ring, 1, total);
  const auto [ring64_p50, ring64_rate] = ring_pings(ring, 64, total);
  const int touches = quick ? 50 : 300;
  const double touch4k = ring_touch(ring, 4096, touches);
  const double touch16m = ring_touch(ring, std::size_t{16} << 20, touches);
  ring.node.stop();

  // Baseline server.
  const char* runfiles = std::getenv("RUNFILES_DIR");
  std::string server = runfiles != nullptr
                           ? std::string(runfiles) + "/ambience/benchmarks/python/socket_server"
                           : std::string(argv[0]) + ".runfiles/ambience/benchmarks/python/socket_server";
  const std::string path = "/tmp/ambience-pybench-" + std::to_string(getpid()) + ".sock";
  const pid_t pid = fork();
  if (pid == 0) {
    execl(server.c_str(), server.c_str(), path.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int fd = -1;
  for (int i = 0; i < 200 && fd < 0; ++i) {
    usleep(50'000);
    const int s = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    if (connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      fd = s;
    } else {
      close(s);
    }
  }
  if (fd < 0) {
    std::printf("cannot reach the baseline server %s\n", server.c_str());
    kill(pid, SIGKILL);
    return 2;
  }
  std::vector<std::byte> request;
  {
    Capture capture{&request};
    ambience::lidl::HeapMessageBuffer req, rep;
    pybench::EchoRpcClient<Capture> c(capture, req, rep);
    const std::string label = "bench";
    bool done = false;
    auto once = [](pybench::EchoRpcClient<Capture>* cl, const std::string* l, bool* d) -> Task<void> {
      (void)co_await cl->ping(1, *l);
      *d = true;
    };
    (void)ambience::spawn(once(&c, &label, &done));
    ambience::Scheduler::current().run_until([&] { return done; });
  }
  (void)socket_pings(fd, request, 1, 200);
  const auto [sock1_p50, sock1_rate] = socket_pings(fd, request, 1, total);
  const auto [sock64_p50, sock64_rate] = socket_pings(fd, request, 64, total);
  close(fd);
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  unlink(path.c_str());

  // grpcio: the same Echo behind a grpcio server, the same request bytes from a grpcio client.
  double grpc1_p50 = 0, grpc1_rate = 0, grpc64_p50 = 0, grpc64_rate = 0;
  {
    std::string hex;
    for (std::byte b : request) {
      char two[3];
      std::snprintf(two, sizeof two, "%02x", static_cast<unsigned>(b));
      hex += two;
    }
    const std::string grpc = runfiles != nullptr
                                 ? std::string(runfiles) + "/ambience/benchmarks/python/grpc_baseline"
                                 : std::string(argv[0]) + ".runfiles/ambience/benchmarks/python/grpc_baseline";
    const std::string cmd = grpc + " --calls " + std::to_string(total) + " --request " + hex;
    std::FILE* p = popen(cmd.c_str(), "r");
    char line[512];
    bool got = false;
    while (p != nullptr && std::fgets(line, sizeof line, p) != nullptr) {
      got = got || std::sscanf(line, "grpc p50_1_us=%lf rate_1=%lf p50_64_us=%lf rate_64=%lf", &grpc1_p50, &grpc1_rate,
                               &grpc64_p50, &grpc64_rate) == 4;
    }
    if (p == nullptr || pclose(p) != 0 || !got) {
      std::printf("the grpcio baseline failed (%s)\n", grpc.c_str());
      return 2;
    }
  }

  std::printf("%-44s %12s %12s\n", "figure", "ring", "socket");
  std::printf("%-44s %12.1f %12.1f\n", "p50 round trip, 1 in flight (us)", ring1_p50, sock1_p50);
  std::printf("%-44s %12.0f %12.0f\n", "calls/s, 1 in flight", ring1_rate, sock1_rate);
  std::printf("%-44s %12.1f %12.1f\n", "p50 latency, 64 in flight (us; socket: batch)", ring64_p50, sock64_p50);
  std::printf("%-44s %12.0f %12.0f\n", "calls/s, 64 in flight", ring64_rate, sock64_rate);
  std::printf("%-44s %12.1f\n", "p50 span<u8> 4 KiB in place (us)", touch4k);
  std::printf("%-44s %12.1f\n", "p50 span<u8> 16 MiB in place (us)", touch16m);
  std::printf("%-44s %12.1f (1 in flight) %.1f (64 in flight)\n", "grpcio: p50 per call (us)", grpc1_p50, grpc64_p50);
  std::printf("%-44s %12.0f (1 in flight) %.0f (64 in flight)\n\n", "grpcio: calls/s", grpc1_rate, grpc64_rate);
  result("python_rtt_p50_1_in_flight_us", ring1_p50, "us", sock1_p50, sock1_p50 / ring1_p50);
  result("python_calls_per_s_64_in_flight", ring64_rate, "calls/s", sock64_rate, ring64_rate / sock64_rate);
  result("python_latency_p50_64_in_flight_us", ring64_p50, "us", sock64_p50, sock64_p50 / ring64_p50);
  result("python_span_16mib_over_4kib", touch16m / touch4k, "ratio", touch4k, touch16m / touch4k);
  // The target: at least 10x lower p50 than grpcio, 1 and 64 in flight.
  result("python_vs_grpc_p50_1_in_flight_us", ring1_p50, "us", grpc1_p50, grpc1_p50 / ring1_p50);
  result("python_vs_grpc_p50_64_in_flight_us", ring64_p50, "us", grpc64_p50, grpc64_p50 / ring64_p50);
  std::printf("target (>= 10x lower p50 than grpcio): 1 in flight %.1fx %s, 64 in flight %.1fx %s\n",
              grpc1_p50 / ring1_p50, grpc1_p50 / ring1_p50 >= 10 ? "met" : "not met", grpc64_p50 / ring64_p50,
              grpc64_p50 / ring64_p50 >= 10 ? "met" : "not met");
  return 0;
}
