// A group-process executable for Python tests: started by ambience_ipc.Node (re-executed with
// --ambience-group), it serves a few test services. Target ids are listed in ipc_module_test.py.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "kernel/arch/hosted_linux/node.hpp"
#include "kernel/core/sleep.hpp"
#include "kernel/core/task.hpp"

using namespace ambience;
using namespace ambience::hosted;

namespace {

void echo(void*, ServiceContext& sc, const Channel::Request& r) { (void)sc.channel->respond(r, Status::ok, r.header.size); }

// u32 a, u32 b -> u32 a + b
void add(void*, ServiceContext& sc, const Channel::Request& r) {
  if (r.header.size != 8) {
    (void)sc.channel->respond(r, Status::bad_message, 0);
    return;
  }
  std::uint32_t a, b;
  std::memcpy(&a, sc.channel->payload(r.index), 4);
  std::memcpy(&b, sc.channel->payload(r.index) + 4, 4);
  a += b;
  std::memcpy(sc.channel->payload(r.index), &a, 4);
  (void)sc.channel->respond(r, Status::ok, 4);
}

Task<void> slow_reply(Channel* ch, Channel::Request r, std::uint32_t ms) {
  co_await sleep_for(std::uint64_t{ms} * 1000);
  (void)ch->respond(r, Status::ok, r.header.size);
}

// u32 milliseconds -> echoes after sleeping that long (holds its element meanwhile).
void slow(void*, ServiceContext& sc, const Channel::Request& r) {
  std::uint32_t ms = 0;
  if (r.header.size >= 4) std::memcpy(&ms, sc.channel->payload(r.index), 4);
  if (spawn(slow_reply(sc.channel, r, ms)) != Status::ok) (void)sc.channel->respond(r, Status::no_memory, 0);
}

void crash(void*, ServiceContext&, const Channel::Request&) { std::abort(); }

// Answers with a ring entry that names no element (bad input for the supervisor).
void garbage(void*, ServiceContext& sc, const Channel::Request& r) {
  auto& e = sc.channel->endpoint();
  const auto& l = e.layout();
  auto* base = reinterpret_cast<std::byte*>(e.header(0)) - l.elements_offset;
  auto* tail = reinterpret_cast<std::atomic<std::uint32_t>*>(base + l.ring_offset[1]);
  auto* slots = reinterpret_cast<std::atomic<std::uint32_t>*>(base + l.ring_offset[1] + 2 * ipc::kCacheLine);
  const std::uint32_t t = tail->load();
  (void)sc.channel->respond(r, Status::ok, 0);
  slots[t & (l.ring_capacity - 1)].store(0xfffe | (1u << 30));
  sc.channel->flush();
}

void install(GroupRuntime& rt) {
  rt.services().add(1, echo, nullptr);
  rt.services().add(2, add, nullptr);
  rt.services().add(3, slow, nullptr);
  rt.services().add(4, crash, nullptr);
  rt.services().add(5, garbage, nullptr);
}

}  // namespace

int main(int argc, char** argv) {
  run_group_if_requested(argc, argv, install);
  std::fprintf(stderr, "usage: started by ambience_ipc.Node as a group process (--ambience-group ...)\n");
  return 1;
}
