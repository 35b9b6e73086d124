// The hello deployment's console: prints lines on the node's console (stdout or the board UART).
#pragma once

#include <cstdint>
#include <string>

#include "deployments/hello/services/hello.lidl.hpp"
#include "kernel/core/task.hpp"

namespace hello {

class ConsoleService final : public Console {
 public:
  ::ambience::Task<std::uint32_t> print(const std::string& line) override;

 private:
  std::uint32_t lines_ = 0;
};

}  // namespace hello
