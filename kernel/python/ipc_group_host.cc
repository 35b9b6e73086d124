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

void echo(void*, ServiceContext& sc, const Channel::Request& r) {
  (void)sc.channel->respond(r, Status::ok, r.header.size);
}

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

Task<void> ask_kernel_then_reply(Channel* ch, Channel::Request r) {
  // payload: u32 kernel target, then the bytes to send it; replies with the kernel's answer.
  std::uint32_t target = 0;
  const std::uint32_t n = r.header.size >= 4 ? r.header.size - 4 : 0;
  if (r.header.size >= 4) std::memcpy(&target, ch->payload(r.index), 4);
  auto slot = co_await ch->begin();
  Status s = slot.status();
  std::uint32_t reply_size = 0;
  if (slot) {
    std::memcpy(ch->payload(slot.index()), ch->payload(r.index) + 4, n);
    ch->header(slot.index())->size = n;
    const auto reply = co_await ch->call(slot, target, 0);
    s = reply.status == Status::ok ? reply.remote() : reply.status;
    if (reply.status == Status::ok) {
      reply_size = reply.header.size;
      std::memcpy(ch->payload(r.index), ch->payload(slot.index()), reply_size);
    }
    ch->finish(slot);
  }
  (void)ch->respond(r, s, reply_size);
}

void ask_kernel(void*, ServiceContext& sc, const Channel::Request& r) {
  if (spawn(ask_kernel_then_reply(sc.channel, r)) != Status::ok) (void)sc.channel->respond(r, Status::no_memory, 0);
}

void install(GroupRuntime& rt) {
  rt.services().add(6, ask_kernel, nullptr);
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
