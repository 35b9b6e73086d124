#include "deployments/hello/services/greeter.hpp"

#include "kernel/core/console.hpp"

namespace hello {

::ambience::Task<std::string> GreeterService::greet(const std::string& name) {
  std::string line = "hello, " + name + "!";
  const std::uint32_t printed = co_await out_.print(line);
  if (printed == 0) co_return std::string("(console unavailable)");
  co_return line;
}

::ambience::Task<void> GreeterService::start() {
  const std::string said = co_await greet("world");
  const std::string out = "[greeter] greet(\"world\") -> \"" + said + "\"\n";  // one write per line
  ::ambience::print(std::string_view(out));
}

}  // namespace hello
