#include "deployments/hello/services/console.hpp"

#include <string>

#include "kernel/core/console.hpp"

namespace hello {

::ambience::Task<std::uint32_t> ConsoleService::print(const std::string& line) {
  // One write per line: other processes of the node print too.
  const std::string out = "[console] " + line + "\n";
  ::ambience::print(std::string_view(out));
  co_return ++lines_;
}

}  // namespace hello
