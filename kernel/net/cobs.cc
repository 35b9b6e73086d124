#include "kernel/net/cobs.hpp"

namespace ambience::net {

Result<std::size_t> cobs_encode(std::span<const std::byte> in, std::span<std::byte> out) {
  CobsEncoder encoder(out);
  encoder.put(in);
  return encoder.finish();
}

Result<std::size_t> cobs_decode(std::span<const std::byte> in, std::span<std::byte> out) {
  if (in.empty()) return Status::bad_message;
  std::size_t o = 0;
  std::size_t i = 0;
  while (i < in.size()) {
    const auto code = std::to_integer<std::uint32_t>(in[i++]);
    if (code == 0) return Status::bad_message;
    if (code - 1 > in.size() - i) return Status::bad_message;  // block cut short
    for (std::uint32_t k = 1; k < code; ++k) {
      const std::byte b = in[i++];
      if (b == std::byte{0}) return Status::bad_message;
      if (o >= out.size()) return Status::no_memory;
      out[o++] = b;
    }
    // Every block but a full one (code 0xFF) and the last stands for data followed by a zero.
    if (code != 0xFF && i < in.size()) {
      if (o >= out.size()) return Status::no_memory;
      out[o++] = std::byte{0};
    }
  }
  return o;
}

}  // namespace ambience::net
