// ambience_ipc: the IPC core driven from Python tests (pybind11).
//
//   Region     one ring region in this process, with both endpoints (kernel, group): acquire,
//              push, flush, poll, read/write payloads, snapshots, and raw writes that play a
//              misbehaving peer — ring-level tests.
//   Node       a real hosted node: this process is the supervisor, the group runs in a child
//              process (the group host executable); typed calls from any Python thread, kill,
//              status (pid, generation, restarts, last fault), ring snapshots.
// Host only; pybind11 needs exceptions, so this glue is the one place that has them.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "kernel/arch/hosted_linux/node.hpp"
#include "kernel/core/job.hpp"
#include "kernel/core/task.hpp"
#include "kernel/ipc/ring.hpp"

namespace py = pybind11;
using namespace ambience;
using namespace ambience::ipc;

namespace {

py::dict snapshot_dict(const RingEndpoint::Snapshot& s, const RingEndpoint& e) {
  py::dict d;
  d["out_tail"] = s.out_tail;
  d["out_head_seen"] = s.out_head_seen;
  d["in_head"] = s.in_head;
  d["in_tail_seen"] = s.in_tail_seen;
  d["in_flight"] = s.in_flight;
  d["waiters"] = s.waiters;
  d["capacity"] = s.capacity;
  d["wakeups_sent_to_peer"] = s.wakeups_sent_to_peer;
  d["peer_sleeping"] = s.peer_sleeping;
  d["corrupted"] = s.corrupted;
  d["fault"] = std::string(e.fault());
  return d;
}

Side parse_side(const std::string& side) {
  if (side == "kernel") return Side::kernel;
  if (side == "group") return Side::group;
  throw py::value_error("side must be 'kernel' or 'group'");
}

// ---------------------------------------------------------------- Region

class Region {
 public:
  Region(std::uint32_t kernel_elements, std::uint32_t group_elements, std::uint32_t payload_bytes)
      : config_{kernel_elements, group_elements, payload_bytes} {
    bytes_ = region_bytes(config_);
    if (bytes_ == 0) throw py::value_error("invalid ring config");
    memory_ =
        static_cast<std::byte*>(std::aligned_alloc(kCacheLine, (bytes_ + kCacheLine - 1) / kCacheLine * kCacheLine));
    if (format_region(memory_, bytes_, config_, 1) != Status::ok) throw std::runtime_error("format failed");
    for (int s = 0; s < 2; ++s) {
      endpoints_[s] = std::make_unique<RingEndpoint>();
      if (endpoints_[s]->attach(static_cast<Side>(s), memory_, bytes_, config_, &count_notify, &notified_[1 - s]) !=
          Status::ok) {
        throw std::runtime_error("attach failed");
      }
    }
  }
  ~Region() { std::free(memory_); }

  RingEndpoint& ep(const std::string& side) { return *endpoints_[static_cast<int>(parse_side(side))]; }
  std::size_t size() const { return bytes_; }
  py::dict layout() const {
    const RingLayout l = RingLayout::of(config_);
    py::dict d;
    d["ring_capacity"] = l.ring_capacity;
    d["element_stride"] = l.element_stride;
    d["doorbell_offset"] = py::make_tuple(l.doorbell_offset[0], l.doorbell_offset[1]);
    d["ring_offset"] = py::make_tuple(l.ring_offset[0], l.ring_offset[1]);
    d["elements_offset"] = l.elements_offset;
    d["total_bytes"] = l.total_bytes;
    return d;
  }
  int notifications(const std::string& side) const { return notified_[static_cast<int>(parse_side(side))].load(); }

  // Plays a misbehaving peer: writes raw bytes into the shared region.
  void raw_write(std::size_t offset, py::bytes data) {
    const std::string s = data;
    if (offset > bytes_ || s.size() > bytes_ - offset) throw py::index_error("outside the region");
    std::memcpy(memory_ + offset, s.data(), s.size());
  }
  py::bytes raw_read(std::size_t offset, std::size_t n) const {
    if (offset > bytes_ || n > bytes_ - offset) throw py::index_error("outside the region");
    return py::bytes(reinterpret_cast<const char*>(memory_ + offset), n);
  }

 private:
  static void count_notify(void* ctx, Doorbell*) { static_cast<std::atomic<int>*>(ctx)->fetch_add(1); }
  RingConfig config_;
  std::size_t bytes_ = 0;
  std::byte* memory_ = nullptr;
  std::unique_ptr<RingEndpoint> endpoints_[2];
  std::atomic<int> notified_[2] = {0, 0};  // wake-ups delivered to [side]
};

EntryKind parse_kind(const std::string& kind) {
  if (kind == "request") return EntryKind::request;
  if (kind == "response") return EntryKind::response;
  throw py::value_error("kind must be 'request' or 'response'");
}

void check_index(RingEndpoint& e, std::uint32_t index) {
  if (index >= e.config().elements()) throw py::index_error("no such element");
}

// ---------------------------------------------------------------- Node

struct PendingCall : Runnable {
  std::uint32_t target = 0;
  std::uint16_t method = 0;
  std::string payload;
  std::string reply;
  Status status = Status::internal;
  std::atomic<bool> done{false};
  hosted::Channel* channel = nullptr;
};

Task<void> run_call(PendingCall* p) {
  auto& ch = *p->channel;
  auto slot = co_await ch.begin();
  if (!slot) {
    p->status = slot.status();
    p->done.store(true, std::memory_order_release);
    co_return;
  }
  std::memcpy(ch.payload(slot.index()), p->payload.data(), p->payload.size());
  ch.header(slot.index())->size = static_cast<std::uint32_t>(p->payload.size());
  const auto r = co_await ch.call(slot, p->target, p->method);
  p->status = r.status == Status::ok ? r.remote() : r.status;
  if (r.status == Status::ok) p->reply.assign(reinterpret_cast<const char*>(ch.payload(slot.index())), r.header.size);
  ch.finish(slot);
  p->done.store(true, std::memory_order_release);
}

// Runs a function on the loop thread and waits for it (node state belongs to the loop).
struct LoopTask : Runnable {
  std::function<void()> fn;
  std::atomic<bool> done{false};
};

class PyNode {
 public:
  PyNode(const std::string& executable, std::uint32_t kernel_elements, std::uint32_t group_elements,
         std::uint32_t payload_bytes, bool sandbox) {
    if (active_.exchange(true)) throw std::runtime_error("only one ambience_ipc.Node at a time per process");
    hosted::GroupOptions o;
    o.name = "pygroup";
    o.ring = RingConfig{kernel_elements, group_elements, payload_bytes};
    if (region_bytes(o.ring) == 0) {
      active_ = false;
      throw py::value_error("invalid ring config");
    }
    o.executable = executable;
    o.sandbox = sandbox;
    group_ = node_.add_group(o);
    if (node_.start() != Status::ok) {
      active_ = false;
      throw std::runtime_error("cannot start the node");
    }
    loop_ = std::thread([this] { Scheduler::current().run_until([this] { return stop_.load(); }); });
  }
  ~PyNode() { close(); }

  void close() {
    if (!loop_.joinable()) return;
    stop_.store(true);
    arch::wake();
    {
      // The loop may be waiting for the GIL inside a Python handler: let it finish.
      py::gil_scoped_release release;
      loop_.join();
    }
    node_.stop();
    active_ = false;
  }

  py::tuple call(std::uint32_t target, py::bytes payload, std::uint16_t method, double timeout_s) {
    auto* p = new PendingCall();
    p->target = target;
    p->method = method;
    p->payload = payload;
    if (p->payload.size() > node_.channel(group_).payload_capacity()) {
      delete p;
      throw py::value_error("payload larger than the element payload capacity");
    }
    p->channel = &node_.channel(group_);
    p->run = [](Runnable* r) {
      auto* pc = static_cast<PendingCall*>(r);
      if (spawn(run_call(pc)) != Status::ok) {
        pc->status = Status::no_memory;
        pc->done.store(true);
      }
    };
    require_running();
    Scheduler::current().post(p);
    if (!wait_done(p->done, timeout_s)) {
      // The call may still complete later and touch *p: leak it rather than free it under the loop.
      throw py::value_error("call did not complete in time (timeout)");
    }
    py::tuple out = py::make_tuple(std::string(to_string(p->status)), py::bytes(p->reply));
    delete p;
    return out;
  }

  py::dict status() {
    hosted::GroupStatus s;
    on_loop([&] { s = node_.status(group_); });
    py::dict d;
    d["pid"] = s.pid;
    d["generation"] = s.generation;
    d["restarts"] = s.restarts;
    d["running"] = s.running;
    d["last_fault"] = s.last_fault;
    return d;
  }

  py::dict snapshot() {
    RingEndpoint::Snapshot s{};
    std::string fault;
    std::uint32_t in_flight_calls = 0, generation = 0;
    on_loop([&] {
      s = node_.channel(group_).endpoint().snapshot();
      fault = node_.channel(group_).endpoint().fault();
      in_flight_calls = node_.channel(group_).calls_in_flight();
      generation = node_.channel(group_).generation();
    });
    py::dict d = snapshot_dict(s, node_.channel(group_).endpoint());
    d["fault"] = fault;
    d["calls_in_flight"] = in_flight_calls;
    d["channel_generation"] = generation;
    return d;
  }

  // Serves `target` in the kernel group with a Python callable: fn(bytes) -> (status, bytes).
  // It runs on the node's loop thread (holding the GIL while it runs).
  void serve(std::uint32_t target, py::function fn) {
    auto entry = std::make_unique<PyService>();
    entry->fn = std::move(fn);
    PyService* raw = entry.get();
    bool added = false;
    on_loop([&] { added = node_.services().add(target, &PyNode::serve_python, raw); });
    if (!added) throw std::runtime_error("service table full");
    services_.push_back(std::move(entry));
  }

  void kill(int signal) {
    on_loop([&] { node_.kill_group(group_, signal); });
  }

  bool wait_generation(std::uint32_t above, double timeout_s) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    while (std::chrono::steady_clock::now() < deadline) {
      const py::dict s = status();
      if (s["generation"].cast<std::uint32_t>() > above && s["running"].cast<bool>()) return true;
      py::gil_scoped_release release;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return false;
  }

 private:
  void require_running() const {
    if (!loop_.joinable()) throw std::runtime_error("node is closed");
  }
  static bool wait_done(const std::atomic<bool>& done, double timeout_s) {
    py::gil_scoped_release release;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    while (!done.load(std::memory_order_acquire)) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    return true;
  }
  void on_loop(std::function<void()> fn) {
    require_running();
    auto* t = new LoopTask();
    t->fn = std::move(fn);
    t->run = [](Runnable* r) {
      auto* lt = static_cast<LoopTask*>(r);
      lt->fn();
      lt->done.store(true, std::memory_order_release);
    };
    Scheduler::current().post(t);
    if (!wait_done(t->done, 10.0)) throw std::runtime_error("node loop did not respond");
    delete t;
  }

  struct PyService {
    py::function fn;
  };
  static Status parse_status(const std::string& name) {
    for (int i = 0; i <= static_cast<int>(Status::internal); ++i) {
      if (name == to_string(static_cast<Status>(i))) return static_cast<Status>(i);
    }
    return Status::internal;
  }
  static void serve_python(void* ctx, hosted::ServiceContext& sc, const hosted::Channel::Request& r) {
    auto* service = static_cast<PyService*>(ctx);
    Status status = Status::internal;
    std::string reply;
    {
      py::gil_scoped_acquire gil;
      try {
        py::tuple out =
            service->fn(py::bytes(reinterpret_cast<const char*>(sc.channel->payload(r.index)), r.header.size));
        status = parse_status(out[0].cast<std::string>());
        reply = out[1].cast<std::string>();
      } catch (py::error_already_set& e) {
        e.discard_as_unraisable("ambience_ipc.Node.serve handler");
        status = Status::internal;
      } catch (std::exception&) {
        status = Status::internal;
      }
    }
    if (reply.size() > sc.channel->payload_capacity()) {
      status = Status::no_memory;
      reply.clear();
    }
    std::memcpy(sc.channel->payload(r.index), reply.data(), reply.size());
    (void)sc.channel->respond(r, status, static_cast<std::uint32_t>(reply.size()));
  }

  std::vector<std::unique_ptr<PyService>> services_;
  hosted::Node node_;
  int group_ = 0;
  std::thread loop_;
  std::atomic<bool> stop_{false};
  static inline std::atomic<bool> active_{false};
};

}  // namespace

PYBIND11_MODULE(ambience_ipc, m) {
  m.doc() = "Ambience IPC: rings, regions and hosted nodes, driven from Python";
  py::class_<RingEndpoint>(m, "Endpoint")
      .def(
          "acquire", [](RingEndpoint& e) { return e.try_acquire(); }, "element index or -1 (back-pressure)")
      .def("release", [](RingEndpoint& e, std::uint32_t i) { e.release(i); })
      .def(
          "write",
          [](RingEndpoint& e, std::uint32_t i, py::bytes data, std::uint32_t cookie) {
            check_index(e, i);
            const std::string s = data;
            if (s.size() > e.payload_capacity()) throw py::value_error("payload too large");
            std::memcpy(e.payload(i), s.data(), s.size());
            e.header(i)->size = static_cast<std::uint32_t>(s.size());
            e.header(i)->cookie = cookie;
          },
          py::arg("index"), py::arg("data"), py::arg("cookie") = 0)
      .def("read",
           [](RingEndpoint& e, std::uint32_t i) -> py::tuple {
             check_index(e, i);
             ElementHeader h;
             const Status s = e.read_header(i, h);
             if (s != Status::ok) return py::make_tuple(std::string(to_string(s)), py::bytes(), 0u);
             return py::make_tuple(std::string("ok"), py::bytes(reinterpret_cast<const char*>(e.payload(i)), h.size),
                                   static_cast<unsigned>(h.cookie));
           })
      .def("push", [](RingEndpoint& e, const std::string& kind,
                      std::uint32_t i) { return std::string(to_string(e.push(parse_kind(kind), i))); })
      .def("flush", &RingEndpoint::flush, "publishes staged entries; True if the peer was woken")
      .def(
          "poll",
          [](RingEndpoint& e, std::size_t max) {
            std::vector<Entry> entries(max == 0 ? 1 : max);
            const std::size_t n = e.poll(entries);
            py::list out;
            for (std::size_t k = 0; k < n; ++k) {
              out.append(
                  py::make_tuple(entries[k].kind == EntryKind::request ? "request" : "response", entries[k].index));
            }
            return out;
          },
          py::arg("max") = 64)
      .def("prepare_sleep",
           [](RingEndpoint& e) {
             std::uint32_t seq;
             return e.prepare_sleep(seq);
           })
      .def("end_sleep", &RingEndpoint::end_sleep)
      .def("snapshot", [](RingEndpoint& e) { return snapshot_dict(e.snapshot(), e); })
      .def_property_readonly("corrupted", &RingEndpoint::corrupted)
      .def_property_readonly("fault", [](RingEndpoint& e) { return std::string(e.fault()); })
      .def_property_readonly("capacity", &RingEndpoint::capacity)
      .def_property_readonly("payload_capacity", &RingEndpoint::payload_capacity)
      .def("is_mine", &RingEndpoint::is_mine);
  py::class_<Region>(m, "Region")
      .def(py::init<std::uint32_t, std::uint32_t, std::uint32_t>(), py::arg("kernel_elements"),
           py::arg("group_elements"), py::arg("payload_bytes"))
      .def("endpoint", &Region::ep, py::return_value_policy::reference_internal)
      .def("layout", &Region::layout)
      .def("notifications", &Region::notifications, "wake-ups delivered to a side")
      .def("raw_write", &Region::raw_write)
      .def("raw_read", &Region::raw_read)
      .def_property_readonly("size", &Region::size);
  py::class_<PyNode>(m, "Node")
      .def(py::init<const std::string&, std::uint32_t, std::uint32_t, std::uint32_t, bool>(), py::arg("executable"),
           py::arg("kernel_elements") = 16, py::arg("group_elements") = 16, py::arg("payload_bytes") = 192,
           py::arg("sandbox") = true)
      .def("call", &PyNode::call, py::arg("target"), py::arg("payload"), py::arg("method") = 0,
           py::arg("timeout") = 10.0, "-> (status name, reply bytes); safe from any thread")
      .def("status", &PyNode::status)
      .def("snapshot", &PyNode::snapshot)
      .def("serve", &PyNode::serve, py::arg("target"), py::arg("handler"),
           "serve a kernel-group target with handler(bytes) -> (status, bytes), for calls from the group")
      .def("kill", &PyNode::kill)
      .def("wait_generation", &PyNode::wait_generation, py::arg("above"), py::arg("timeout") = 10.0)
      .def("close", &PyNode::close)
      .def(
          "__enter__", [](PyNode& n) -> PyNode& { return n; }, py::return_value_policy::reference)
      .def("__exit__", [](PyNode& n, py::object, py::object, py::object) { n.close(); });
}
