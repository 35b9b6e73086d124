// ambience_kernel: the kernel core driven from Python tests (pybind11). It runs real coroutines,
// timers and jobs on the real scheduler, and lets Python threads complete and wait for jobs —
// the seed that the IPC module (rings, arenas, calls) grows from.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "kernel/core/job.hpp"
#include "kernel/core/sleep.hpp"
#include "kernel/core/task.hpp"

namespace py = pybind11;

namespace {

using ambience::Scheduler;
using ambience::Status;
using ambience::Task;

Task<void> sleeper(std::uint64_t us, int id, std::vector<int>* order) {
  co_await ambience::sleep_for(us);
  order->push_back(id);
}

// Spawns one coroutine per delay; each appends its index when its sleep ends. Returns the
// completion order, which must follow the delays.
std::vector<int> run_sleepers(const std::vector<std::uint64_t>& delays_us) {
  std::vector<int> order;
  for (std::size_t i = 0; i < delays_us.size(); ++i) {
    if (ambience::spawn(sleeper(delays_us[i], static_cast<int>(i), &order)) != Status::ok) {
      throw std::runtime_error("coroutine frame allocator exhausted");
    }
  }
  {
    py::gil_scoped_release release;
    Scheduler::current().run_until_idle();
  }
  return order;
}

Task<void> chain(int depth, std::uint64_t* out) {
  if (depth == 0) {
    co_await ambience::yield();
    *out += 1;
    co_return;
  }
  co_await chain(depth - 1, out);
  *out += 1;
}

std::uint64_t run_chains(int tasks, int depth) {
  std::uint64_t total = 0;
  for (int i = 0; i < tasks; ++i) {
    if (ambience::spawn(chain(depth, &total)) != Status::ok) {
      throw std::runtime_error("coroutine frame allocator exhausted");
    }
  }
  py::gil_scoped_release release;
  Scheduler::current().run_until_idle();
  return total;
}

// A Job<int> Python can complete from any thread while another thread waits on it.
class PyJob {
 public:
  void complete(int value) { job_.complete(value); }
  bool done() const { return job_.done(); }
  int wait() {
    py::gil_scoped_release release;
    return ambience::sync_wait(job_);
  }
  ambience::Job<int>& job() { return job_; }

 private:
  ambience::Job<int> job_;
};

Task<void> await_then_store(ambience::Job<int>* job, int* out) { *out = co_await *job; }

// A coroutine awaits a job that a Python thread completes; the loop sleeps meanwhile.
int loop_waits_for_python(PyJob& job, py::object completer) {
  int out = -1;
  if (ambience::spawn(await_then_store(&job.job(), &out)) != Status::ok) throw std::runtime_error("no frame");
  completer();  // starts a Python thread that will complete the job later
  py::gil_scoped_release release;
  Scheduler::current().run_until([&] { return out != -1; });
  return out;
}

py::dict frame_stats() {
  const auto s = ambience::FrameAllocator::instance().stats();
  py::dict d;
  d["arena_bytes"] = s.arena_bytes;
  d["live_frames"] = s.live_frames;
  d["live_bytes"] = s.live_bytes;
  d["peak_live_bytes"] = s.peak_live_bytes;
  d["allocations"] = s.allocations;
  d["failures"] = s.failures;
  return d;
}

}  // namespace

PYBIND11_MODULE(ambience_kernel, m) {
  m.doc() = "Ambience kernel core, driven from Python";
  m.def("run_sleepers", &run_sleepers, py::arg("delays_us"));
  m.def("run_chains", &run_chains, py::arg("tasks"), py::arg("depth"));
  m.def("frame_stats", &frame_stats);
  m.def("now_us", [] { return ambience::arch::now_us(); });
  m.def("idle_sleeps", [] { return Scheduler::current().idle_sleeps(); });
  py::class_<PyJob>(m, "Job")
      .def(py::init<>())
      .def("complete", &PyJob::complete)
      .def("done", &PyJob::done)
      .def("wait", &PyJob::wait);
  m.def("loop_waits_for_python", &loop_waits_for_python);
}
