// challenge_entropy on the boards: no random source, so the microsecond clock and a counter.
// Unpredictability comes from RpcNode hashing them with the pair key (secret) and the node's
// incarnation; freshness from the counter.
#include <cstdint>

#include "kernel/core/arch.hpp"
#include "runtime/rpc/entropy.hpp"

namespace ambience::rpc {

void challenge_entropy(std::span<std::byte, kChallengeEntropy> out) {
  static std::uint64_t counter = 0;
  const std::uint64_t words[2] = {arch::now_us(), ++counter};
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::byte>((words[i / 8] >> (8 * (i % 8))) & 0xFF);
}

}  // namespace ambience::rpc
