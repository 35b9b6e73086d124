// Test fixture: a service implementing demo.base.Named, an interface the lidl_library it names in
// `implements` (//lidl:testdata) only imports from //lidl:testdata_base.
#pragma once

#include <string>

#include "kernel/core/console.hpp"
#include "kernel/core/task.hpp"
#include "lidl/testdata/base.lidl.hpp"

namespace fixture {

class NamedService final : public demo::base::Named {
 public:
  ambience::Task<std::string> name() override { co_return std::string("fixture"); }
  ambience::Task<void> start() {
    const std::string line = "[named] I am " + co_await name() + "\n";  // one write per line
    ambience::print(std::string_view(line));
  }
};

}  // namespace fixture
