// challenge_entropy on hosted nodes: the kernel's random source.
#include <sys/random.h>

#include <cstdint>

#include "kernel/core/arch.hpp"
#include "runtime/rpc/entropy.hpp"

namespace ambience::rpc {

void challenge_entropy(std::span<std::byte, kChallengeEntropy> out) {
  std::size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = getrandom(out.data() + got, out.size() - got, 0);
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  // getrandom does not fail for 16 bytes once the pool is ready (blocking until then). Should it
  // anyway, the clock and a counter still make the challenge fresh, as on the boards.
  if (got < out.size()) {
    static std::uint64_t counter = 0;
    const std::uint64_t words[2] = {arch::now_us(), ++counter};
    for (std::size_t i = 0; i < out.size(); ++i)
      out[i] = static_cast<std::byte>((words[i / 8] >> (8 * (i % 8))) & 0xFF);
  }
}

}  // namespace ambience::rpc
