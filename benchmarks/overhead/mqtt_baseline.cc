// The MQTT baseline of the overhead benchmark: the client publishes each frame (an 8-byte request
// id, then the pixels) at QoS 0 to a topic that a worker process subscribes to through a local
// broker (Debian's mosquitto, started by the runner on a loopback port); the worker runs the same
// mock work and publishes a 16-byte reply (id, result, work µs) to a topic the client subscribes
// to. N requests in flight. Client library: libmosquitto (Debian libmosquitto-dev).
//   mqtt_baseline --port P --iterations N --frame-bytes B --in-flight K --requests R [--warmup W]
#include <mosquitto.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "benchmarks/overhead/common.hpp"
#include "services/detection/detection_mock.hpp"

namespace {

using overhead::Settings;

struct Reply {
  std::uint64_t id;
  std::uint32_t result;
  std::uint32_t work_us;
};

struct Topics {
  std::string frames, results, ready, stop;
  explicit Topics(const std::string& tag)
      : frames("overhead/" + tag + "/frames"),
        results("overhead/" + tag + "/results"),
        ready("overhead/" + tag + "/ready"),
        stop("overhead/" + tag + "/stop") {}
};

constexpr std::uint64_t kTimeoutNs = 60'000'000'000ull;

struct WorkerState {
  const Topics* topics;
  std::uint32_t iterations;
  bool subscribed = false, got_frame = false, stop = false;
};

void worker_main(const Settings& s, const Topics& topics) {
  WorkerState st{&topics, s.iterations};
  mosquitto* m = mosquitto_new(nullptr, true, &st);
  if (m == nullptr) _exit(1);
  mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);  // no Nagle delay on the small replies
  mosquitto_subscribe_callback_set(
      m, [](mosquitto*, void* obj, int, int, const int*) { static_cast<WorkerState*>(obj)->subscribed = true; });
  mosquitto_message_callback_set(m, [](mosquitto* mq, void* obj, const mosquitto_message* msg) {
    auto& w = *static_cast<WorkerState*>(obj);
    if (w.topics->stop == msg->topic) {
      w.stop = true;
      return;
    }
    if (msg->payloadlen < 8) return;
    w.got_frame = true;
    const auto* p = static_cast<const std::uint8_t*>(msg->payload);
    Reply r{};
    std::memcpy(&r.id, p, 8);
    const std::uint64_t t0 = overhead::now_ns();
    r.result = camera_trap::mock_work({p + 8, static_cast<std::size_t>(msg->payloadlen) - 8}, w.iterations);
    r.work_us = static_cast<std::uint32_t>((overhead::now_ns() - t0 + 500) / 1000);
    mosquitto_publish(mq, nullptr, w.topics->results.c_str(), sizeof r, &r, 0, false);
  });
  if (mosquitto_connect(m, "127.0.0.1", s.port, 60) != MOSQ_ERR_SUCCESS) _exit(3);
  mosquitto_subscribe(m, nullptr, topics.frames.c_str(), 0);
  mosquitto_subscribe(m, nullptr, topics.stop.c_str(), 0);
  const std::uint64_t start = overhead::now_ns();
  std::uint64_t last_ready = 0;
  while (!st.stop && overhead::now_ns() - start < kTimeoutNs) {
    if (mosquitto_loop(m, 20, 1) != MOSQ_ERR_SUCCESS) _exit(4);
    // Until the first frame: the client may not have subscribed when we first said so.
    if (st.subscribed && !st.got_frame && overhead::now_ns() - last_ready > 20'000'000) {
      mosquitto_publish(m, nullptr, topics.ready.c_str(), 0, nullptr, 0, false);
      last_ready = overhead::now_ns();
    }
  }
  mosquitto_disconnect(m);
  mosquitto_destroy(m);
  _exit(0);
}

struct ClientState {
  const Settings* s;
  const Topics* topics;
  std::vector<std::uint8_t> message;  // id + frame
  std::uint32_t expect = 0;
  bool started = false, measuring = false, done = false;
  std::uint32_t warm_left = 0, sent = 0, answered = 0, failed = 0;
  std::uint64_t work_us = 0, t0 = 0, elapsed = 0;

  void send(mosquitto* m, std::uint64_t id) {
    std::memcpy(message.data(), &id, 8);
    if (mosquitto_publish(m, nullptr, topics->frames.c_str(), static_cast<int>(message.size()), message.data(), 0,
                          false) != MOSQ_ERR_SUCCESS)
      ++failed;
  }
  void begin_measuring(mosquitto* m) {
    measuring = true;
    t0 = overhead::now_ns();
    for (std::uint32_t i = 0; i < s->in_flight; ++i) send(m, ++sent);
  }
};

int client_main(const Settings& s, const Topics& topics, pid_t worker) {
  ClientState st{&s, &topics};
  st.message.resize(8 + s.frame_bytes);
  const auto frame = overhead::make_frame(s.frame_bytes);
  std::memcpy(st.message.data() + 8, frame.data(), frame.size());
  st.expect = camera_trap::mock_work(frame, s.iterations);
  st.warm_left = s.warmup;
  mosquitto* m = mosquitto_new(nullptr, true, &st);
  if (m == nullptr) return std::fprintf(stderr, "mqtt: mosquitto_new failed\n"), 1;
  mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
  mosquitto_message_callback_set(m, [](mosquitto* mq, void* obj, const mosquitto_message* msg) {
    auto& c = *static_cast<ClientState*>(obj);
    if (c.topics->ready == msg->topic) {
      if (c.started) return;
      c.started = true;
      if (c.warm_left > 0) {
        c.send(mq, 0xffff0000u + c.warm_left);
      } else {
        c.begin_measuring(mq);
      }
      return;
    }
    if (msg->payloadlen != sizeof(Reply)) return;
    Reply r{};
    std::memcpy(&r, msg->payload, sizeof r);
    if (!c.measuring) {
      if (--c.warm_left > 0) {
        c.send(mq, 0xffff0000u + c.warm_left);
      } else {
        c.begin_measuring(mq);
      }
      return;
    }
    if (r.result != c.expect) ++c.failed;
    c.work_us += r.work_us;
    if (++c.answered == c.s->requests) {
      c.elapsed = overhead::now_ns() - c.t0;
      c.done = true;
      mosquitto_publish(mq, nullptr, c.topics->stop.c_str(), 0, nullptr, 0, false);
      return;
    }
    if (c.sent < c.s->requests) c.send(mq, ++c.sent);
  });
  if (mosquitto_connect(m, "127.0.0.1", s.port, 60) != MOSQ_ERR_SUCCESS) {
    std::fprintf(stderr, "mqtt: cannot connect to the broker on 127.0.0.1:%d\n", s.port);
    kill(worker, SIGKILL);
    return 3;
  }
  mosquitto_subscribe(m, nullptr, topics.results.c_str(), 0);
  mosquitto_subscribe(m, nullptr, topics.ready.c_str(), 0);
  const std::uint64_t start = overhead::now_ns();
  while (!st.done && overhead::now_ns() - start < kTimeoutNs) {
    if (mosquitto_loop(m, 100, 1) != MOSQ_ERR_SUCCESS) break;
  }
  for (int i = 0; i < 5; ++i) mosquitto_loop(m, 10, 1);  // flush the stop message
  mosquitto_disconnect(m);
  mosquitto_destroy(m);
  // The worker leaves on the stop message; should that be lost, it must not outlive us.
  int wst = 0;
  for (int i = 0; i < 200 && waitpid(worker, &wst, WNOHANG) == 0; ++i) usleep(5000);
  if (waitpid(worker, &wst, WNOHANG) == 0) {
    kill(worker, SIGKILL);
    waitpid(worker, &wst, 0);
  }
  if (!st.done) return std::fprintf(stderr, "mqtt: no complete run within 60 s\n"), 1;
  overhead::print_result("mqtt", s, st.answered, st.failed, st.elapsed, st.work_us);
  return st.failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  const Settings s = overhead::parse_settings(argc, argv, 1);
  if (s.port <= 0) overhead::usage_error(argv[0], "--port of the broker is required");
  const Topics topics(std::to_string(getpid()));
  mosquitto_lib_init();
  const pid_t pid = fork();
  if (pid < 0) return std::perror("fork"), 1;
  if (pid == 0) worker_main(s, topics);
  const int rc = client_main(s, topics, pid);
  mosquitto_lib_cleanup();
  return rc;
}
