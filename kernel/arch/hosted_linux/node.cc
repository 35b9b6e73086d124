#include "kernel/arch/hosted_linux/node.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "kernel/arch/hosted_linux/sandbox.hpp"
#include "kernel/core/task.hpp"

namespace ambience::hosted {

namespace {

GroupRuntime* g_current_group = nullptr;  // see GroupRuntime::current()
Node* g_current_node = nullptr;           // see Node::current()

struct NodeBell {
  std::atomic<std::uint32_t> word;
};

// Group -> supervisor wake-up: the supervisor sleeps on the node bell word.
void notify_supervisor(void* ctx, ipc::Doorbell*) {
  auto* word = static_cast<std::atomic<std::uint32_t>*>(ctx);
  word->fetch_add(1, std::memory_order_release);
  futex_wake_shared(word);
}

constexpr int kRegionFd = 3, kKernelArenaFd = 4, kGroupArenaFd = 5, kBellFd = 6, kPeerArenaFd = 7;

const char* signal_note(int sig) {
  switch (sig) {
    case SIGSYS: return " (SIGSYS: sandbox violation)";
    case SIGSEGV: return " (SIGSEGV: bad memory access)";
    case SIGABRT: return " (SIGABRT: abort)";
    case SIGKILL: return " (SIGKILL)";
    case SIGBUS: return " (SIGBUS)";
    default: return "";
  }
}

}  // namespace

bool ServiceTable::add(std::uint32_t target, ServiceHandler handler, void* ctx) {
  if (count_ == kMax || handler == nullptr) return false;
  entries_[count_++] = Entry{target, handler, ctx};
  return true;
}

void ServiceTable::dispatch(ServiceContext& sc, const Channel::Request& request) const {
  for (int i = 0; i < count_; ++i) {
    if (entries_[i].target == request.header.target) {
      entries_[i].handler(entries_[i].ctx, sc, request);
      return;
    }
  }
  (void)sc.channel->respond(request, Status::not_found, 0);
}

// ---------------------------------------------------------------- group process side

bool GroupRuntime::poll_hook(void* self) { return static_cast<GroupRuntime*>(self)->channel_.poll() != 0; }
bool GroupRuntime::prepare_hook(void* self) {
  std::uint32_t seq;
  return static_cast<GroupRuntime*>(self)->channel_.endpoint().prepare_sleep(seq);
}
void GroupRuntime::end_hook(void* self) { static_cast<GroupRuntime*>(self)->channel_.endpoint().end_sleep(); }
bool GroupRuntime::spin_hook(void* self, int cpu) {
  auto& e = static_cast<GroupRuntime*>(self)->channel_.endpoint();
  if (e.my_doorbell()->cpu.load(std::memory_order_relaxed) != cpu)
    e.my_doorbell()->cpu.store(cpu, std::memory_order_relaxed);
  return e.peer_doorbell()->cpu.load(std::memory_order_relaxed) != cpu;
}

int run_group(int argc, char** argv, void (*install)(GroupRuntime&)) {
  // argv: exe --ambience-group name region_bytes kernel_elems group_elems payload
  //       kernel_arena_bytes group_arena_bytes sandbox spin_us generation yield
  //       peer_arenas ("-" or "group:bytes,group:bytes,...", mapped from fds 7, 8, ...)
  if (argc < 14) {
    std::fprintf(stderr, "ambience group: bad arguments\n");
    return 2;
  }
  static GroupRuntime rt;
  g_current_group = &rt;
  rt.name_ = argv[2];
  const std::size_t region_bytes = std::strtoull(argv[3], nullptr, 10);
  RingConfig config;
  config.kernel_elements = static_cast<std::uint32_t>(std::strtoul(argv[4], nullptr, 10));
  config.group_elements = static_cast<std::uint32_t>(std::strtoul(argv[5], nullptr, 10));
  config.payload_bytes = static_cast<std::uint32_t>(std::strtoul(argv[6], nullptr, 10));
  const std::size_t kernel_arena_bytes = std::strtoull(argv[7], nullptr, 10);
  const std::size_t group_arena_bytes = std::strtoull(argv[8], nullptr, 10);
  const bool sandbox = std::atoi(argv[9]) != 0;
  const std::uint32_t spin_us = static_cast<std::uint32_t>(std::strtoul(argv[10], nullptr, 10));
  if (SharedMemory::map_fd(kRegionFd, region_bytes, true, rt.region_) != Status::ok ||
      SharedMemory::map_fd(kKernelArenaFd, kernel_arena_bytes, false, rt.kernel_arena_) != Status::ok ||
      SharedMemory::map_fd(kGroupArenaFd, group_arena_bytes, true, rt.own_arena_) != Status::ok ||
      SharedMemory::map_fd(kBellFd, 4096, true, rt.bell_) != Status::ok) {
    std::fprintf(stderr, "ambience group %s: cannot map shared memory\n", rt.name_.c_str());
    return 2;
  }
  if (std::strcmp(argv[13], "-") != 0) {
    int fd = kPeerArenaFd;
    for (const char* at = argv[13]; *at != 0; ++fd) {
      char* end = nullptr;
      const long group = std::strtol(at, &end, 10);
      if (end == at || *end != ':') break;
      at = end + 1;
      const std::size_t bytes = std::strtoull(at, &end, 10);
      if (end == at) break;
      at = *end == ',' ? end + 1 : end;
      GroupRuntime::PeerArena peer{static_cast<int>(group), {}};
      if (SharedMemory::map_fd(fd, bytes, false, peer.memory) != Status::ok) {
        std::fprintf(stderr, "ambience group %s: cannot map the arena of group %ld\n", rt.name_.c_str(), group);
        return 2;
      }
      rt.peer_arenas_.push_back(std::move(peer));
    }
  }
  auto* bell = reinterpret_cast<NodeBell*>(rt.bell_.data());
  if (rt.channel_.attach(ipc::Side::group, rt.region_.data(), rt.region_.size(), config, notify_supervisor,
                         &bell->word) != Status::ok) {
    std::fprintf(stderr, "ambience group %s: region does not match its config\n", rt.name_.c_str());
    return 2;
  }
  ipc::RegionHeader header;
  std::memcpy(&header, rt.region_.data(), sizeof header);
  rt.generation_ = header.generation;
  rt.arena_.init(rt.own_arena_.data(), rt.own_arena_.size());
  rt.context_.channel = &rt.channel_;
  rt.context_.peer_arena = {rt.kernel_arena_.data(), rt.kernel_arena_.size()};
  use_wake_word(&rt.channel_.endpoint().my_doorbell()->seq, true);
  rt.channel_.serve(
      [](void* ctx, Channel&, const Channel::Request& r) {
        auto* self = static_cast<GroupRuntime*>(ctx);
        self->services_.dispatch(self->context_, r);
      },
      &rt);
  rt.hook_.poll = &GroupRuntime::poll_hook;
  rt.hook_.prepare_sleep = &GroupRuntime::prepare_hook;
  rt.hook_.end_sleep = &GroupRuntime::end_hook;
  rt.hook_.should_spin = &GroupRuntime::spin_hook;
  rt.hook_.ctx = &rt;
  rt.hook_.spin_budget_us = spin_us;
  rt.hook_.spin_current_us = spin_us;
  rt.hook_.yield_while_spinning = std::atoi(argv[12]) != 0;
  set_idle_hook(&rt.hook_);
  install(rt);
  if (sandbox && install_group_sandbox() != Status::ok) {
    std::fprintf(stderr, "ambience group %s: cannot install the sandbox\n", rt.name_.c_str());
    return 2;
  }
  Scheduler::current().run_until([] { return false; });
  return 0;
}

void run_group_if_requested(int argc, char** argv, void (*install)(GroupRuntime&)) {
  if (argc >= 2 && std::strcmp(argv[1], "--ambience-group") == 0) std::_Exit(run_group(argc, argv, install));
}

void run_group_if_requested(void (*install)(GroupRuntime&)) {
  static char buf[8192];
  FILE* f = std::fopen("/proc/self/cmdline", "rb");
  if (f == nullptr) return;
  const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = 0;
  static char* argv[32];
  int argc = 0;
  for (std::size_t i = 0; i < n && argc < 31; i += std::strlen(buf + i) + 1) argv[argc++] = buf + i;
  argv[argc] = nullptr;
  run_group_if_requested(argc, argv, install);
}

// ---------------------------------------------------------------- supervisor side

struct Node::Group {
  int id = 0;
  GroupOptions options;
  SharedMemory region, kernel_arena, group_arena_rw, group_arena_ro;
  Channel channel;
  Arena arena;
  ServiceContext context{};
  Node* node = nullptr;
  GroupStatus status;
  std::string pending_fault;  // set when we kill it for bad input
  bool killing = false;
  std::thread watcher;
  // Restart back-off: a group that keeps dying right after it started is restarted ever later
  // (10 ms doubling up to 1 s), so a crash loop cannot eat the node.
  std::uint64_t started_us = 0;
  std::uint32_t quick_deaths = 0;
  Timer restart_timer;
  struct RestartNode : Runnable {
    Group* group;
  } restart_node;
};

GroupRuntime* GroupRuntime::current() { return g_current_group; }

std::span<const std::byte> GroupRuntime::peer_arena(int group) const {
  for (const auto& p : peer_arenas_) {
    if (p.group == group) return {p.memory.data(), p.memory.size()};
  }
  return {};
}
Node* Node::current() { return g_current_node; }

Node::Node() {
  g_current_node = this;
  death_node_.node = this;
  death_node_.run = &Node::on_death;
}

Node::~Node() {
  stop();
  if (g_current_node == this) g_current_node = nullptr;
}

int Node::add_group(const GroupOptions& options) {
  auto g = std::make_unique<Group>();
  g->id = static_cast<int>(groups_.size());
  g->options = options;
  g->node = this;
  groups_.push_back(std::move(g));
  return groups_.back()->id;
}

Channel& Node::channel(int group) { return groups_[group]->channel; }
Arena& Node::arena(int group) { return groups_[group]->arena; }
std::span<const std::byte> Node::group_arena(int group) const {
  const Group& g = *groups_[group];
  return {g.group_arena_ro.data(), g.group_arena_ro.size()};
}
GroupStatus Node::status(int group) const { return groups_[group]->status; }

void Node::notify_group(void*, ipc::Doorbell* bell) { futex_wake_shared(&bell->seq); }

bool Node::poll_hook(void* self) { return static_cast<Node*>(self)->poll_all() != 0; }

// Spin only if some group we may be waiting for runs on another CPU; publish ours to all.
bool Node::spin_hook(void* self, int cpu) {
  bool worth = false;
  for (auto& g : static_cast<Node*>(self)->groups_) {
    if (!g->status.running || g->killing) continue;
    auto& e = g->channel.endpoint();
    if (e.my_doorbell()->cpu.load(std::memory_order_relaxed) != cpu)
      e.my_doorbell()->cpu.store(cpu, std::memory_order_relaxed);
    worth = worth || e.peer_doorbell()->cpu.load(std::memory_order_relaxed) != cpu;
  }
  return worth;
}

bool Node::prepare_hook(void* self) {
  auto* node = static_cast<Node*>(self);
  for (auto& g : node->groups_) {
    if (!g->status.running || g->killing) continue;
    std::uint32_t seq;
    if (!g->channel.endpoint().prepare_sleep(seq)) {
      end_hook(self);
      return false;
    }
  }
  return true;
}

void Node::end_hook(void* self) {
  for (auto& g : static_cast<Node*>(self)->groups_) {
    if (g->channel.endpoint().attached()) g->channel.endpoint().end_sleep();
  }
}

std::size_t Node::poll_all() {
  std::size_t n = 0;
  for (auto& g : groups_) {
    if (!g->status.running || g->killing) continue;
    n += g->channel.poll();
    if (g->channel.endpoint().corrupted()) {
      // Bad input: the group broke the ring protocol. Report, kill, restart (on death).
      g->pending_fault = std::string("bad input: ") + g->channel.endpoint().fault();
      g->killing = true;
      ::kill(g->status.pid, SIGKILL);
      ++n;
    }
  }
  return n;
}

Status Node::start() {
  if (started_) return Status::ok;
  if (SharedMemory::create("ambience-node-bell", 4096, bell_) != Status::ok) return Status::no_memory;
  auto* bell = new (bell_.data()) NodeBell();
  use_wake_word(&bell->word, true);
  hook_.poll = &Node::poll_hook;
  hook_.prepare_sleep = &Node::prepare_hook;
  hook_.end_sleep = &Node::end_hook;
  hook_.should_spin = &Node::spin_hook;
  hook_.ctx = this;
  set_idle_hook(&hook_);
  for (auto& gp : groups_) {
    Group& g = *gp;
    const std::size_t rb = ipc::region_bytes(g.options.ring);
    if (rb == 0) return Status::bad_message;
    if (SharedMemory::create(("ambience-ring-" + g.options.name).c_str(), rb, g.region) != Status::ok ||
        SharedMemory::create(("ambience-karena-" + g.options.name).c_str(), g.options.kernel_arena_bytes,
                             g.kernel_arena) != Status::ok ||
        SharedMemory::create(("ambience-garena-" + g.options.name).c_str(), g.options.group_arena_bytes,
                             g.group_arena_rw) != Status::ok) {
      return Status::no_memory;
    }
    const int ro = g.group_arena_rw.open_read_only();
    if (ro < 0 || SharedMemory::map_fd(ro, g.group_arena_rw.size(), false, g.group_arena_ro) != Status::ok) {
      return Status::no_memory;
    }
    g.arena.init(g.kernel_arena.data(), g.kernel_arena.size());
    g.context.channel = &g.channel;
    g.context.peer_arena = {g.group_arena_ro.data(), g.group_arena_ro.size()};
    g.status.generation = 1;
    if (ipc::format_region(g.region.data(), g.region.size(), g.options.ring, g.status.generation) != Status::ok ||
        g.channel.attach(ipc::Side::kernel, g.region.data(), g.region.size(), g.options.ring, &Node::notify_group,
                         &g) != Status::ok) {
      return Status::internal;
    }
    g.channel.serve(
        [](void* ctx, Channel&, const Channel::Request& r) {
          auto* grp = static_cast<Group*>(ctx);
          grp->node->services_.dispatch(grp->context, r);
        },
        &g);
  }
  // Every arena exists before the first process starts: a group may map its callers' arenas.
  for (auto& gp : groups_) {
    for (int peer : gp->options.reads_arenas_of) {
      if (peer < 0 || peer >= groups() || peer == gp->id) return Status::bad_message;
    }
    const Status s = spawn(*gp);
    if (s != Status::ok) return s;
  }
  started_ = true;
  return Status::ok;
}

Status Node::spawn(Group& g) {
  // High, close-on-exec copies that the child moves to the fixed numbers 3..6.
  // Peer arenas go through read-only file descriptions: the group cannot map them writable.
  std::vector<int> fds;
  const int ro_kernel_arena = g.kernel_arena.open_read_only();
  fds = {fcntl(g.region.fd(), F_DUPFD_CLOEXEC, 100), fcntl(ro_kernel_arena, F_DUPFD_CLOEXEC, 100),
         fcntl(g.group_arena_rw.fd(), F_DUPFD_CLOEXEC, 100), fcntl(bell_.fd(), F_DUPFD_CLOEXEC, 100)};
  close(ro_kernel_arena);
  std::string peers;
  for (int peer : g.options.reads_arenas_of) {
    const SharedMemory& arena = groups_[peer]->group_arena_rw;
    const int ro = arena.open_read_only();
    fds.push_back(ro < 0 ? -1 : fcntl(ro, F_DUPFD_CLOEXEC, 100));
    if (ro >= 0) close(ro);
    peers += (peers.empty() ? "" : ",") + std::to_string(peer) + ":" + std::to_string(arena.size());
  }
  for (int fd : fds) {
    if (fd < 0) {
      for (int f : fds) {
        if (f >= 0) close(f);
      }
      return Status::no_memory;
    }
  }
  std::string args[13] = {
      "--ambience-group",
      g.options.name,
      std::to_string(g.region.size()),
      std::to_string(g.options.ring.kernel_elements),
      std::to_string(g.options.ring.group_elements),
      std::to_string(g.options.ring.payload_bytes),
      std::to_string(g.kernel_arena.size()),
      std::to_string(g.group_arena_rw.size()),
      g.options.sandbox ? "1" : "0",
      std::to_string(g.options.spin_us),
      std::to_string(g.status.generation),
      g.options.yield_while_spinning ? "1" : "0",
      peers.empty() ? "-" : peers,
  };
  std::string exe = g.options.executable.empty() ? "/proc/self/exe" : g.options.executable;
  char* argv[15];
  argv[0] = exe.data();
  for (int i = 0; i < 13; ++i) argv[i + 1] = args[i].data();
  argv[14] = nullptr;
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    for (int fd : fds) close(fd);
    return Status::no_memory;
  }
  if (pid == 0) {
    // Child: async-signal-safe calls only until exec.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(3);
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (dup2(fds[i], kRegionFd + static_cast<int>(i)) < 0) _exit(4);
    }
    if (g.options.cpu >= 0) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(g.options.cpu, &set);
      sched_setaffinity(0, sizeof set, &set);
    }
    execv(exe.c_str(), argv);
    _exit(5);
  }
  for (int fd : fds) close(fd);
  g.status.pid = pid;
  g.status.running = true;
  g.started_us = arch::now_us();
  g.killing = false;
  g.pending_fault.clear();
  const int id = g.id;
  g.watcher = std::thread([this, id, pid] {
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    {
      std::lock_guard<std::mutex> lock(deaths_lock_);
      deaths_.emplace_back(id, st);
    }
    Scheduler::current().post(&death_node_);
  });
  return Status::ok;
}

void Node::on_death(Runnable* r) {
  Node* node = static_cast<DeathNode*>(r)->node;
  std::vector<std::pair<int, int>> deaths;
  {
    std::lock_guard<std::mutex> lock(node->deaths_lock_);
    deaths.swap(node->deaths_);
  }
  for (auto& [id, st] : deaths) node->handle_death(*node->groups_[id], st);
}

void Node::report(Group& g, const std::string& why) {
  ++faults_;
  g.status.last_fault = why;
  std::fprintf(stderr, "ambience node: group '%s' (pid %d, generation %u): %s%s\n", g.options.name.c_str(),
               static_cast<int>(g.status.pid), g.status.generation, why.c_str(),
               g.options.restart && !stopping_ ? "; restarting" : "");
}

void Node::handle_death(Group& g, int st) {
  if (g.watcher.joinable()) g.watcher.join();
  g.status.running = false;
  if (stopping_) return;
  std::string why = g.pending_fault;
  if (why.empty()) {
    char text[96];
    if (WIFSIGNALED(st)) {
      std::snprintf(text, sizeof text, "killed by signal %d%s", WTERMSIG(st), signal_note(WTERMSIG(st)));
    } else {
      std::snprintf(text, sizeof text, "exited with status %d", WEXITSTATUS(st));
    }
    why = text;
  }
  report(g, why);
  // Every call in flight to the dead instance completes now, with peer_restarted.
  g.channel.reset_peer(Status::peer_restarted);
  if (!g.options.restart) {
    g.channel.endpoint().detach();
    return;
  }
  const std::uint64_t now = arch::now_us();
  g.quick_deaths = now - g.started_us < 200'000 ? g.quick_deaths + 1 : 0;
  ++g.status.generation;
  ++g.status.restarts;
  g.group_arena_rw.zero();
  if (ipc::format_region(g.region.data(), g.region.size(), g.options.ring, g.status.generation) != Status::ok ||
      g.channel.attach(ipc::Side::kernel, g.region.data(), g.region.size(), g.options.ring, &Node::notify_group, &g) !=
          Status::ok) {
    report(g, "cannot re-create the ring region");
    return;
  }
  if (g.quick_deaths >= 3) {
    const std::uint32_t shift = g.quick_deaths - 3 < 7 ? g.quick_deaths - 3 : 7;
    const std::uint64_t delay = std::min<std::uint64_t>(1'000'000, std::uint64_t{10'000} << shift);
    g.status.backoff_us = delay;
    std::fprintf(stderr, "ambience node: group '%s' keeps dying at start: next start in %llu ms\n",
                 g.options.name.c_str(), static_cast<unsigned long long>(delay / 1000));
    g.restart_node.group = &g;
    g.restart_node.run = [](Runnable* r) {
      Group& grp = *static_cast<Group::RestartNode*>(r)->group;
      if (grp.node->stopping_ || grp.status.running) return;
      if (grp.node->spawn(grp) != Status::ok) grp.node->report(grp, "cannot start the group process again");
    };
    g.restart_timer.deadline_us = now + delay;
    g.restart_timer.on_expiry = &g.restart_node;
    Scheduler::current().arm(g.restart_timer);
    return;
  }
  g.status.backoff_us = 0;
  if (spawn(g) != Status::ok) report(g, "cannot start the group process again");
}

bool Node::wait_restarted(int group, std::uint32_t generation, std::uint64_t timeout_us) {
  const std::uint64_t deadline = arch::now_us() + timeout_us;
  Runnable wake_only;
  wake_only.run = [](Runnable*) {};
  Timer timer;
  timer.deadline_us = deadline;
  timer.on_expiry = &wake_only;
  Scheduler::current().arm(timer);
  Scheduler::current().run_until([&] {
    return (groups_[group]->status.generation > generation && groups_[group]->status.running) ||
           arch::now_us() >= deadline;
  });
  Scheduler::current().cancel(timer);
  while (wake_only.queued) Scheduler::current().run_ready();
  return groups_[group]->status.generation > generation;
}

void Node::kill_group(int group, int signal) {
  if (groups_[group]->status.running) ::kill(groups_[group]->status.pid, signal);
}

void Node::stop() {
  stopping_ = true;
  for (auto& g : groups_) {
    if (g->status.running) ::kill(g->status.pid, SIGKILL);
  }
  for (auto& g : groups_) {
    if (g->watcher.joinable()) g->watcher.join();
    g->status.running = false;
    Scheduler::current().cancel(g->restart_timer);
  }
  // Calls still in flight complete with `unavailable`; then nothing queued may point into this
  // node after it is gone (callers' coroutines run to completion here).
  for (auto& g : groups_) {
    g->channel.reset_peer(Status::unavailable);
    g->channel.endpoint().detach();
  }
  for (int round = 0; round < 64; ++round) {
    Scheduler::current().run_ready();  // at least once: resumes the callers reset_peer() posted
    bool quiet = !death_node_.queued;
    for (auto& g : groups_) quiet = quiet && g->channel.quiescent() && !g->restart_node.queued;
    if (quiet) break;
  }
  {
    std::lock_guard<std::mutex> lock(deaths_lock_);
    deaths_.clear();
  }
  if (started_) {
    set_idle_hook(nullptr);
    use_wake_word(nullptr, false);
  }
  started_ = false;
}

}  // namespace ambience::hosted
