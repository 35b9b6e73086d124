// A decoder with a planted bug, to show that the fuzz tests can fail: an input starting "AMB" makes
// it read one byte past its heap buffer, which AddressSanitizer reports. //tests/fuzz:planted_bug_is_found
// passes only if the bounded run finds it.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4 || std::memcmp(data, "AMB", 3) != 0) return 0;
  auto copy = std::make_unique<std::uint8_t[]>(size);
  std::memcpy(copy.get(), data, size);
  volatile std::uint8_t past_the_end = copy[size];  // the planted bug
  (void)past_the_end;
  return 0;
}
