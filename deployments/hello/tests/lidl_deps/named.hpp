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
    ambience::println("[named] I am ", std::string_view(co_await name()));
  }
};

}  // namespace fixture
