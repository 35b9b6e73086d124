// The seed corpora of tests/fuzz come from the built-in fuzz drivers: with AMBIENCE_FUZZ_SEEDS set
// to a directory, a driver saves the first inputs it generates, before it mutates them (valid
// frames, envelopes and messages, which coverage-guided fuzzers could not easily find alone).
// Host-only (stdio); the drivers are host programs.
#pragma once

#include <cstddef>
#include <cstdio>
#include <cstdlib>

namespace ambience::testing {

inline void save_fuzz_seed(const char* prefix, long index, long limit, const void* data, std::size_t size) {
  const char* dir = std::getenv("AMBIENCE_FUZZ_SEEDS");
  if (dir == nullptr || index >= limit) return;
  char path[4096];
  std::snprintf(path, sizeof path, "%s/%s-%03ld", dir, prefix, index);
  FILE* f = std::fopen(path, "wb");
  if (f == nullptr) {
    std::fprintf(stderr, "cannot write the seed %s\n", path);
    std::exit(1);
  }
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::exit(1);
  std::fclose(f);
}

}  // namespace ambience::testing
