// The work alone and two of the baselines of the overhead benchmark, each a real implementation
// in two processes (fork): the same frame, the same mock work (camera_trap::mock_work) in the
// worker process, N requests in flight.
//   baselines work --iterations N --frame-bytes B --requests R   the mock alone, ns per request
//   baselines calibrate --target-ns T --frame-bytes B            rounds for T ns of work
//   baselines pipes ...      the frame written through a pipe, a 16-byte reply through another
//   baselines lidl_uds ...   the generated camera_trap.FrameHandler client (FrameHandlerRpcClient)
//                            and dispatch over an AF_UNIX stream socketpair
// (flags: common.hpp). Prints the line the runner parses; exits non-zero if a request failed.
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <coroutine>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "benchmarks/overhead/common.hpp"
#include "benchmarks/overhead/worker.hpp"
#include "kernel/core/scheduler.hpp"
#include "kernel/core/task.hpp"
#include "lidl/runtime/rpc.hpp"
#include "services/camera_trap/camera_trap.lidl.hpp"
#include "services/detection/detection_mock.hpp"

namespace {

using overhead::Settings;
namespace lidl = ambience::lidl;

volatile std::uint32_t g_sink = 0;  // keeps the timed work observable

// Median ns of one mock_work call on a frame of `bytes`, over `reps` timed calls.
double work_ns(std::uint32_t iterations, std::uint32_t bytes, std::uint32_t reps) {
  const auto frame = overhead::make_frame(bytes);
  for (int i = 0; i < 3; ++i) g_sink = g_sink + camera_trap::mock_work(frame, iterations);
  std::vector<double> t;
  for (std::uint32_t i = 0; i < reps; ++i) {
    const std::uint64_t t0 = overhead::now_ns();
    g_sink = g_sink + camera_trap::mock_work(frame, iterations);
    t.push_back(double(overhead::now_ns() - t0));
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// ---- Linux pipes -------------------------------------------------------------------------

struct Reply {
  std::uint64_t id;
  std::uint32_t result;
  std::uint32_t work_us;
};

void pipe_worker(int in, int out, std::uint32_t iterations) {
  std::vector<std::uint8_t> frame;
  for (;;) {
    std::uint64_t id = 0;
    std::uint32_t len = 0;
    if (!overhead::read_all(in, &id, sizeof id) || !overhead::read_all(in, &len, sizeof len)) _exit(0);
    frame.resize(len);
    if (!overhead::read_all(in, frame.data(), len)) _exit(1);
    const std::uint64_t t0 = overhead::now_ns();
    const std::uint32_t result = camera_trap::mock_work(frame, iterations);
    const Reply r{id, result, static_cast<std::uint32_t>((overhead::now_ns() - t0 + 500) / 1000)};
    if (!overhead::write_all(out, &r, sizeof r)) _exit(1);
  }
}

int run_pipes(const Settings& s) {
  int req[2], rep[2];
  if (pipe(req) != 0 || pipe(rep) != 0) return std::perror("pipe"), 1;
  const pid_t pid = fork();
  if (pid < 0) return std::perror("fork"), 1;
  if (pid == 0) {
    close(req[1]);
    close(rep[0]);
    pipe_worker(req[0], rep[1], s.iterations);
  }
  close(req[0]);
  close(rep[1]);
  const auto frame = overhead::make_frame(s.frame_bytes);
  std::uint32_t failed = 0;
  std::uint64_t work_us = 0;
  const std::uint32_t expect = camera_trap::mock_work(frame, s.iterations);
  auto send = [&](std::uint64_t id) {
    const std::uint32_t len = s.frame_bytes;
    return overhead::write_all(req[1], &id, sizeof id) && overhead::write_all(req[1], &len, sizeof len) &&
           overhead::write_all(req[1], frame.data(), len);
  };
  auto receive = [&]() {
    Reply r{};
    if (!overhead::read_all(rep[0], &r, sizeof r)) return false;
    if (r.result != expect) ++failed;
    work_us += r.work_us;
    return true;
  };
  bool ok = true;
  for (std::uint32_t i = 0; i < s.warmup && ok; ++i) ok = send(i) && receive();
  work_us = 0;
  const std::uint64_t t0 = overhead::now_ns();
  std::uint32_t sent = 0, answered = 0;
  while (ok && answered < s.requests) {
    if (sent < s.requests && sent - answered < s.in_flight) {
      ok = send(++sent);
    } else {
      ok = receive();
      ++answered;
    }
  }
  const std::uint64_t t = overhead::now_ns() - t0;
  close(req[1]);
  int st = 0;
  waitpid(pid, &st, 0);
  if (!ok) return std::fprintf(stderr, "pipes: the worker went away\n"), 1;
  overhead::print_result("pipes", s, answered, failed, t, work_us);
  return failed == 0 ? 0 : 1;
}

// ---- lidl over a Unix domain socket -----------------------------------------------------

// Messages are framed as u32 length + the lidl message.
bool read_message(int fd, lidl::MessageBuffer& into) {
  std::uint32_t len = 0;
  if (!overhead::read_all(fd, &len, sizeof len)) return false;
  auto out = into.prepare(len);
  if (out.size() != len) return false;
  return overhead::read_all(fd, out.data(), len);
}

bool write_message(int fd, std::span<const std::byte> m) {
  const auto len = static_cast<std::uint32_t>(m.size());
  return overhead::write_all(fd, &len, sizeof len) && overhead::write_all(fd, m.data(), m.size());
}

ambience::Task<void> serve_one(camera_trap::FrameHandler& impl, std::span<const std::byte> request,
                               lidl::MessageBuffer& reply, ambience::Status& status) {
  status = co_await camera_trap::dispatch(impl, request, reply);
}

void uds_worker(int fd, std::uint32_t iterations) {
  overhead::Worker worker(iterations);
  lidl::HeapMessageBuffer request, reply;
  auto& sched = ambience::Scheduler::current();
  for (;;) {
    if (!read_message(fd, request)) _exit(0);
    ambience::Status st = ambience::Status::internal;
    if (ambience::spawn(serve_one(worker, request.message(), reply, st)) != ambience::Status::ok) _exit(1);
    sched.run_until_idle();
    if (st != ambience::Status::ok || !write_message(fd, reply.message())) _exit(1);
  }
}

// The transport of the generated client: writes the request, then waits for its reply, which
// the main loop reads off the socket (the worker answers in order) and hands to the oldest waiter.
class UdsPipeline {
 public:
  explicit UdsPipeline(int fd) : fd_(fd) {}

  struct Waiter {
    std::coroutine_handle<> handle;
    lidl::MessageBuffer* reply;
  };

  class Transport {
   public:
    explicit Transport(UdsPipeline& p) : p_(p) {}
    ambience::Task<ambience::Status> call(std::span<const std::byte> request, lidl::MessageBuffer& reply) {
      if (!write_message(p_.fd_, request)) co_return ambience::Status::unavailable;
      const bool ok = co_await Await{p_, &reply};
      co_return ok ? ambience::Status::ok : ambience::Status::unavailable;
    }

   private:
    struct Await {
      UdsPipeline& p;
      lidl::MessageBuffer* reply;
      bool await_ready() const noexcept { return false; }
      void await_suspend(std::coroutine_handle<> h) { p.waiters_.push_back({h, reply}); }
      bool await_resume() const noexcept { return p.last_ok_; }
    };
    UdsPipeline& p_;
  };

  bool pending() const { return !waiters_.empty(); }

  // Reads one reply and resumes its caller (which may send its next request and wait again).
  bool deliver_one() {
    Waiter w = waiters_.front();
    waiters_.pop_front();
    last_ok_ = read_message(fd_, *w.reply);
    w.handle.resume();
    return last_ok_;
  }

 private:
  int fd_;
  std::deque<Waiter> waiters_;
  bool last_ok_ = true;
};

struct UdsCaller {
  UdsPipeline::Transport transport;
  lidl::HeapMessageBuffer request, reply;
  camera_trap::FrameHandlerRpcClient<UdsPipeline::Transport> client;
  explicit UdsCaller(UdsPipeline& p) : transport(p), client(transport, request, reply) { client.set_retries(0); }
};

struct UdsRun {
  std::span<const std::uint8_t> frame;
  std::uint32_t budget = 0, issued = 0, answered = 0, failed = 0;
  std::uint64_t work_us = 0;
};

ambience::Task<void> uds_call_loop(UdsCaller& c, UdsRun& run) {
  while (run.issued < run.budget) {
    camera_trap::FrameInfo info{};
    info.event_id = ++run.issued;
    info.width = 320;
    info.channels = 3;
    auto r = co_await c.client.call_handle(info, run.frame);
    if (!r.ok() || r.value().event_id != info.event_id || !r.value().detected) {
      ++run.failed;
    } else {
      run.work_us += r.value().trace.detection_work_us;
    }
    ++run.answered;
  }
}

int run_lidl_uds(const Settings& s) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return std::perror("socketpair"), 1;
  const pid_t pid = fork();
  if (pid < 0) return std::perror("fork"), 1;
  if (pid == 0) {
    close(sv[0]);
    uds_worker(sv[1], s.iterations);
  }
  close(sv[1]);
  const auto frame = overhead::make_frame(s.frame_bytes);
  UdsPipeline pipeline(sv[0]);
  std::vector<std::unique_ptr<UdsCaller>> callers;
  for (std::uint32_t i = 0; i < s.in_flight; ++i) callers.push_back(std::make_unique<UdsCaller>(pipeline));
  auto& sched = ambience::Scheduler::current();
  auto run_phase = [&](std::uint32_t budget, std::uint32_t width) {
    UdsRun run{frame, budget};
    for (std::uint32_t i = 0; i < width; ++i) (void)ambience::spawn(uds_call_loop(*callers[i], run));
    sched.run_until_idle();  // every caller has sent its first request
    bool ok = true;
    while (pipeline.pending()) {
      ok = pipeline.deliver_one() && ok;
      sched.run_until_idle();
    }
    return ok ? run : UdsRun{frame, budget, 0, 0, budget, 0};
  };
  (void)run_phase(s.warmup, 1);
  const std::uint64_t t0 = overhead::now_ns();
  const UdsRun run = run_phase(s.requests, s.in_flight);
  const std::uint64_t t = overhead::now_ns() - t0;
  close(sv[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  overhead::print_result("lidl_uds", s, run.answered, run.failed, t, run.work_us);
  return run.failed == 0 && run.answered == s.requests ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "calibrate") {
    // --target-ns T --frame-bytes B: the median of many short calls (shorter than a scheduler time
    // slice, so the machine's other processes rarely land inside one), scaled linearly.
    if (argc != 6 || std::string(argv[2]) != "--target-ns" || std::string(argv[4]) != "--frame-bytes")
      overhead::usage_error(argv[0], "usage: calibrate --target-ns T --frame-bytes B");
    const double target = std::strtod(argv[3], nullptr);
    const auto bytes = static_cast<std::uint32_t>(std::strtoul(argv[5], nullptr, 10));
    if (target <= 0 || bytes < 4) overhead::usage_error(argv[0], "calibrate: target and frame bytes must be > 0");
    const std::uint32_t n = 1u << 15;
    const double t = work_ns(n, bytes, 41);
    std::printf("iterations=%u ns_per_iteration=%.4f\n", static_cast<std::uint32_t>(target * n / t), t / n);
    return 0;
  }
  if (mode == "work") {
    const Settings s = overhead::parse_settings(argc, argv, 2);
    std::printf("work_ns=%.0f\n", work_ns(s.iterations, s.frame_bytes, s.requests));
    return 0;
  }
  if (mode == "pipes") return run_pipes(overhead::parse_settings(argc, argv, 2));
  if (mode == "lidl_uds") return run_lidl_uds(overhead::parse_settings(argc, argv, 2));
  overhead::usage_error(argv[0], "usage: baselines work|calibrate|pipes|lidl_uds [flags]");
}
