#include "services/database/tests/durability/writer.hpp"

#include <set>
#include <vector>

#include "kernel/core/console.hpp"

namespace dbtest {

using camera_trap::database::Sighting;
using camera_trap::database::Stored;

Sighting WriterService::sighting_for(std::uint64_t e) {
  Sighting s;
  s.event_id = (std::uint64_t{1} << 48) | e;  // sensor 1, sequence e: as the camera trap numbers
  s.species = static_cast<camera_trap::Species>(e % 4);
  s.confidence = static_cast<float>(e % 100) / 100.0f;
  s.taken_at_ms = 1000 + e;
  return s;
}

ambience::Task<void> WriterService::start() {
  (void)ambience::spawn(run());  // the node's start-up need not wait for the whole stream
  co_return;
}

ambience::Task<void> WriterService::run() {
  for (std::uint64_t e = 1; e <= kEvents; ++e) {
    const camera_trap::database::Appended a = co_await log_.append(sighting_for(e));
    if (const std::uint64_t* id = a.as_id(); id != nullptr && *id != 0) {
      ++acknowledged_;
      ambience::println("[writer] acked ", e, " -> ", *id);
    } else {
      const camera_trap::database::StoreError* why = a.as_error();
      ambience::println("[writer] append ", e, " failed: ",
                        why == nullptr                                            ? "no answer"
                        : *why == camera_trap::database::StoreError::storage_full ? "storage_full"
                                                                                  : "storage_failed");
    }
  }
  std::vector<Stored> all;
  for (;;) {
    const std::uint64_t first = all.empty() ? 1 : all.back().id + 1;
    std::vector<Stored> part = co_await log_.range(first, 500);
    if (part.empty()) break;
    all.insert(all.end(), part.begin(), part.end());
  }
  std::set<std::uint64_t> events;
  std::uint64_t mismatched = 0, gaps = 0;
  for (std::size_t i = 0; i < all.size(); ++i) {
    const Sighting& s = all[i].sighting;
    events.insert(s.event_id);
    const Sighting want = sighting_for(s.event_id & 0xffffffffffffull);
    if (s.species != want.species || s.confidence != want.confidence || s.taken_at_ms != want.taken_at_ms ||
        (s.event_id >> 48) != 1) {
      ++mismatched;
    }
    if (all[i].id != i + 1) ++gaps;
  }
  const std::uint64_t count = co_await log_.count();
  const std::uint64_t cats = (co_await log_.by_species(camera_trap::Species::cat, 1, 1000)).size();
  ambience::println("[writer] verify: ", all.size(), " stored, ", events.size(), " distinct, ", mismatched,
                    " mismatched, ", gaps, " gaps, count ", count, ", cats ", cats);
  ambience::println("[writer] done");
}

}  // namespace dbtest
