// A hosted-Linux node (DESIGN.md "Hosted Linux"): the supervisor process holds the kernel and
// the kernel group; every other group is a child process, sandboxed with seccomp, that shares
// with the supervisor
//   - its ring region (memfd, read-write on both sides; see kernel/ipc/ring.hpp),
//   - the kernel's payload arena (read-write in the supervisor, read-only in the group),
//   - its own payload arena (read-write in the group, read-only in the supervisor),
//   - the node doorbell page (the supervisor's futex wake word).
// Doorbells are futexes; the loops spin adaptively before sleeping, so an idle node uses no CPU.
//
// Supervision: a group process that dies (crash, sandbox violation) or is found writing garbage
// into its ring (it is then killed) is reported and restarted: its region is formatted again, the
// generation number increments, and every call in flight to it completes with
// Status::peer_restarted. Bad input from one group never touches the supervisor's own state or
// another group's.
//
// A group process is this same executable (or `group_executable`) re-executed with
// `--ambience-group ...`; its main() must first call run_group_if_requested().
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "kernel/arch/hosted_linux/arena.hpp"
#include "kernel/arch/hosted_linux/hosted.hpp"
#include "kernel/arch/hosted_linux/shm.hpp"
#include "kernel/ipc/channel.hpp"

namespace ambience::hosted {

using arch::hosted::futex_wake_shared;
using arch::hosted::IdleHook;
using arch::hosted::set_idle_hook;
using arch::hosted::use_wake_word;
using ipc::Channel;
using ipc::RingConfig;

// Serves requests addressed to one service target (in a group process or in the supervisor).
// `peer_arena` is the caller's arena, read-only; resolve BufferRefs against it with resolve().
struct ServiceContext {
  Channel* channel;
  std::span<const std::byte> peer_arena;
};
using ServiceHandler = void (*)(void* ctx, ServiceContext& sc, const Channel::Request& request);

// The services one process hosts, by target id.
class ServiceTable {
 public:
  static constexpr int kMax = 16;
  bool add(std::uint32_t target, ServiceHandler handler, void* ctx);
  // Dispatches, or answers not_found.
  void dispatch(ServiceContext& sc, const Channel::Request& request) const;

 private:
  struct Entry {
    std::uint32_t target;
    ServiceHandler handler;
    void* ctx;
  };
  Entry entries_[kMax] = {};
  int count_ = 0;
};

// What a group process sees of itself (passed to the install function).
class GroupRuntime {
 public:
  const std::string& name() const { return name_; }
  ServiceTable& services() { return services_; }
  Channel& channel() { return channel_; }      // to the kernel (make calls with it, too)
  Arena& arena() { return arena_; }            // own arena (kernel reads it)
  // The kernel's arena shared with this group, read-only: arguments and large replies the
  // supervisor hands us.
  std::span<const std::byte> kernel_arena() const { return {kernel_arena_.data(), kernel_arena_.size()}; }
  std::uint32_t generation() const { return generation_; }
  // The payload arena of group `group`, read-only, if this group was given it
  // (GroupOptions::reads_arenas_of); empty otherwise. Zero-copy arguments a peer group passes
  // through the supervisor point into it.
  std::span<const std::byte> peer_arena(int group) const;
  // This process's group runtime (nullptr outside a group process): lets runtime code that only
  // holds a Channel find the arenas that go with it.
  static GroupRuntime* current();

 private:
  friend int run_group(int argc, char** argv, void (*install)(GroupRuntime&));
  static bool poll_hook(void* self);
  static bool prepare_hook(void* self);
  static void end_hook(void* self);
  static bool spin_hook(void* self, int cpu);
  std::string name_;
  ServiceTable services_;
  Channel channel_;
  Arena arena_;
  SharedMemory region_, own_arena_, kernel_arena_, bell_;
  struct PeerArena {
    int group;
    SharedMemory memory;
  };
  std::vector<PeerArena> peer_arenas_;
  ServiceContext context_{};
  IdleHook hook_;
  std::uint32_t generation_ = 0;
};

// If argv asks for a group process: runs it (never returns). Otherwise returns and main goes on.
// `install` registers the services the group hosts (by the group's name) before sandboxing.
void run_group_if_requested(int argc, char** argv, void (*install)(GroupRuntime&));
// The same, reading the arguments from /proc/self/cmdline: for binaries whose main() is not
// ours (e.g. test runners); call it from a static initializer.
void run_group_if_requested(void (*install)(GroupRuntime&));

struct GroupOptions {
  std::string name;
  RingConfig ring{64, 64, 192};
  std::size_t kernel_arena_bytes = 1 << 20;  // the supervisor's arena shared (read-only) with it
  std::size_t group_arena_bytes = 1 << 20;   // the group's own arena
  bool sandbox = true;
  bool restart = true;
  int cpu = -1;                              // pin the group process to this CPU (-1: no pinning)
  std::uint32_t spin_us = 50;                // adaptive spinning budget before sleeping
  bool yield_while_spinning = false;         // for a group sharing a CPU with its peer
  std::string executable;                    // default: /proc/self/exe
  // Groups (ids of this node) whose payload arenas this group maps read-only: the callers whose
  // zero-copy arguments it reads in place. Only groups the plan lets call it belong here.
  std::vector<int> reads_arenas_of;
};

struct GroupStatus {
  pid_t pid = -1;
  std::uint32_t generation = 0;
  std::uint32_t restarts = 0;
  bool running = false;
  std::string last_fault;  // "" or why the last instance ended
  std::uint64_t backoff_us = 0;  // delay before the pending restart (crash loop), 0 if none
};

class Node {
 public:
  Node();
  ~Node();  // stops every group process
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  // The live Node of this process (the last one constructed; nullptr when none): lets runtime
  // code that only holds a Channel find the arenas that go with it.
  static Node* current();

  // Declares a group (before start()); returns its id.
  int add_group(const GroupOptions& options);
  // Creates shared memory and starts every group process.
  Status start();
  // Stops (SIGKILL) all group processes and waits for them.
  void stop();

  Channel& channel(int group);
  Arena& arena(int group);                                 // the kernel's arena shared with `group`
  std::span<const std::byte> group_arena(int group) const;  // `group`'s arena, read-only here
  ServiceTable& services() { return services_; }            // kernel-group services groups may call
  GroupStatus status(int group) const;
  int groups() const { return static_cast<int>(groups_.size()); }

  // Runs the supervisor loop until done() (polling rings, handling deaths and restarts).
  template <class Done>
  void run_until(Done done) {
    Scheduler::current().run_until([&] { return done(); });
  }
  // Waits (running the loop) until `group` runs generation > `generation`, or timeout.
  bool wait_restarted(int group, std::uint32_t generation, std::uint64_t timeout_us);

  // For tests: kill a group process with `signal`.
  void kill_group(int group, int signal);

  IdleHook& idle_hook() { return hook_; }
  std::uint64_t faults_reported() const { return faults_; }

 private:
  struct Group;
  struct Death;
  static bool poll_hook(void* self);
  static bool prepare_hook(void* self);
  static void end_hook(void* self);
  static bool spin_hook(void* self, int cpu);
  static void notify_group(void* ctx, ipc::Doorbell* bell);
  static void on_death(Runnable* r);
  std::size_t poll_all();
  Status spawn(Group& g);
  void handle_death(Group& g, int wait_status);
  void report(Group& g, const std::string& why);

  std::vector<std::unique_ptr<Group>> groups_;
  ServiceTable services_;
  SharedMemory bell_;
  IdleHook hook_;
  bool started_ = false;
  bool stopping_ = false;
  std::uint64_t faults_ = 0;
  std::mutex deaths_lock_;
  std::vector<std::pair<int, int>> deaths_;  // (group, wait status) from watcher threads
  struct DeathNode : Runnable {
    Node* node;
  } death_node_;
};

}  // namespace ambience::hosted
