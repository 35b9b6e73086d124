#include "deployments/hello/tests/isolation/intruder.hpp"

#include <cstdint>

#include "kernel/core/console.hpp"

// The console group's region (the deployment's generated linker fragment); weak, so the
// service also links into nodes without such a group.
extern "C" [[gnu::weak]] char __ambience_group_console_start[];

namespace isolation {

::ambience::Task<std::string> Intruder::greet(const std::string& name) {
  const std::uint32_t printed = co_await out_.print("intruder greets " + name);
  co_return "lines printed: " + std::to_string(printed);
}

::ambience::Task<void> Intruder::start() {
  const std::string said = co_await greet("the console");
  ::ambience::print(std::string_view("[intruder] " + said + "\n"));
  if (said == "lines printed: 1" && __ambience_group_console_start != nullptr) {
    ::ambience::print("[intruder] reading the console group memory\n");
    const std::uint32_t stolen = *reinterpret_cast<volatile std::uint32_t*>(__ambience_group_console_start);
    ::ambience::print(std::string_view("[intruder] stole " + std::to_string(stolen) + "\n"));  // must not happen
  }
}

}  // namespace isolation
