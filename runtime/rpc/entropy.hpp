// The entropy of the callee's challenges (kernel/net/secure.hpp), one function per backend:
// runtime/hosted (getrandom) and runtime/cortex_m (the boards have no random source: the timer
// and a counter, which RpcNode hashes with the pair key and the node's incarnation, so challenges
// of one boot never repeat and differ between boots and pairs).
#pragma once

#include <cstddef>
#include <span>

namespace ambience::rpc {

inline constexpr std::size_t kChallengeEntropy = 16;

void challenge_entropy(std::span<std::byte, kChallengeEntropy> out);

}  // namespace ambience::rpc
