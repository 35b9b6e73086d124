#include "deployments/hello/services/console.hpp"

#include "kernel/core/console.hpp"

namespace hello {

::ambience::Task<std::uint32_t> ConsoleService::print(const std::string& line) {
  ::ambience::println("[console] ", std::string_view(line));
  co_return ++lines_;
}

}  // namespace hello
