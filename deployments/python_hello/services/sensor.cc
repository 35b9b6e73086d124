#include "deployments/python_hello/services/sensor.hpp"

#include <string>
#include <vector>

#include "kernel/core/console.hpp"

namespace python_hello {

namespace {

const char* mood_name(Mood m) { return m == Mood::alarmed ? "alarmed" : m == Mood::busy ? "busy" : "calm"; }

}  // namespace

::ambience::Task<void> SensorService::start() {
  Reading quiet;
  quiet.sensor = 1;
  quiet.label = "kitchen";
  quiet.mood = Mood::calm;
  quiet.samples = {3, 4, 5};
  Reading loud = quiet;
  loud.sensor = 2;
  loud.label = "garage";
  loud.mood = Mood::busy;
  loud.samples = {400, 500, 600};
  loud.note = "door open";
  for (const Reading* r : {&quiet, &loud}) {
    const Report rep = co_await analyzer_.analyze(*r);
    ++sent_;
    const std::string out = "[sensor] analyze(" + r->label + ") -> " + rep.label + " count " +
                            std::to_string(rep.count) + " total " + std::to_string(rep.total) + " " +
                            mood_name(rep.mood) + " note " + (rep.note ? "\"" + *rep.note + "\"" : "none") + " entry " +
                            std::to_string(rep.entry) + "\n";
    ::ambience::print(std::string_view(out));
  }
  std::vector<std::uint8_t> frame(4 << 20);
  std::uint64_t want = 0;
  for (std::size_t i = 0; i < frame.size(); ++i) frame[i] = static_cast<std::uint8_t>(i * 31 + 7);
  // The analyzer sums the frame as little-endian u64 words (modulo 2^64, like Python's sum here).
  for (std::size_t i = 0; i < frame.size(); i += 8) {
    std::uint64_t w = 0;
    for (int b = 7; b >= 0; --b) w = (w << 8) | frame[i + static_cast<std::size_t>(b)];
    want += w;
  }
  const std::uint64_t got = co_await analyzer_.digest(frame);
  // 0: the call failed (over RPC, a frame this large does not fit a message).
  const char* verdict = got == want ? "matches" : got == 0 ? "failed (no answer)" : "DIFFERS";
  const std::string digest = "[sensor] digest(4 MiB) " + std::string(verdict) + "\n";
  ::ambience::print(std::string_view(digest));
  const std::uint32_t failed = co_await analyzer_.fail("sensor unplugged");
  const std::string fail = "[sensor] fail() -> " + std::to_string(failed) + " (the call failed: the default value)\n";
  ::ambience::print(std::string_view(fail));
}

}  // namespace python_hello
