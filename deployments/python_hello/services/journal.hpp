#pragma once

#include <cstdint>
#include <string>

#include "deployments/python_hello/services/python_hello.lidl.hpp"
#include "kernel/core/task.hpp"

namespace python_hello {

// Prints each record on the node's console and numbers it.
class JournalService final : public Journal {
 public:
  ::ambience::Task<std::uint32_t> record(const std::string& line, Mood mood) override;

 private:
  std::uint32_t entries_ = 0;
};

}  // namespace python_hello
