#include "deployments/python_hello/services/journal.hpp"

#include "kernel/core/console.hpp"

namespace python_hello {

::ambience::Task<std::uint32_t> JournalService::record(const std::string& line, Mood mood) {
  ++entries_;
  const char* name = mood == Mood::alarmed ? "alarmed" : mood == Mood::busy ? "busy" : "calm";
  const std::string out = "[journal] #" + std::to_string(entries_) + " " + line + " (" + name + ")\n";
  ::ambience::print(std::string_view(out));  // one write per line
  co_return entries_;
}

}  // namespace python_hello
