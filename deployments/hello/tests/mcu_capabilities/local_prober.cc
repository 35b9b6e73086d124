#include "deployments/hello/tests/mcu_capabilities/local_prober.hpp"

#include <cstddef>
#include <string>

#include "kernel/core/console.hpp"
#include "kernel/core/status.hpp"

namespace mcucap {
namespace {

using Channel = ::ambience::node::LocalChannel<Reader>;

void say(const std::string& line) { ::ambience::print(std::string_view("[prober] " + line + "\n")); }

// The channel the generated client calls through. The client keeps it private (its only member
// besides the vtable pointer and the last status): read from the object's memory, as code
// sharing the image can. Checked below by its call count.
Channel& channel_of(LocalProberService::Client& client) {
  return **reinterpret_cast<Channel* const*>(reinterpret_cast<const std::byte*>(&client) + sizeof(void*));
}

}  // namespace

::ambience::Task<void> LocalProberService::start() {
  static_assert(Store::procedures[1].id == 1 && std::string_view(Store::procedures[1].name) == "write");
  Channel& channel = channel_of(store_);
  const std::uint32_t calls = channel.calls();
  const std::uint32_t before = co_await store_.read();
  if (channel.calls() != calls + 1) {
    say("not the client's channel");
    co_return;
  }
  say("read granted: " + std::to_string(before));
  const std::uint32_t value = kRogueValue;
  const Store_write_Args args{&value};
  Store_write_Result result{};
  const ::ambience::Status status = co_await channel.invoke(Store::procedures[1].id, &args, &result);
  say(std::string("write on its channel: ") + ::ambience::to_string(status));
  const std::uint32_t after = co_await store_.read();
  say(after == kRogueValue ? "the store took the rogue value" : "the store never took the rogue value");
}

}  // namespace mcucap
