// Reads the camera trap's frame store (frames.bin, layout in README.md) from memory: the camera
// board gets it loaded by QEMU (-device loader), hosted code from a file. Checks the header
// before handing out frames, so a wrong or truncated file is an error, not garbage pixels.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace camera_trap::scenes {

// Where the camera board's frame store is loaded: the mps2-an500's 16 MiB PSRAM.
inline constexpr std::uintptr_t kFrameStoreAddress = 0x60000000u;

inline constexpr std::size_t kStoreHeaderBytes = 32;

enum class StoreCheck : std::uint8_t { ok, too_short, bad_magic, bad_version, bad_geometry, truncated };

inline const char* to_string(StoreCheck c) {
  switch (c) {
    case StoreCheck::ok: return "ok";
    case StoreCheck::too_short: return "shorter than its 32-byte header";
    case StoreCheck::bad_magic: return "magic is not ACTF";
    case StoreCheck::bad_version: return "unknown version";
    case StoreCheck::bad_geometry: return "frame geometry is not width x height x channels";
    case StoreCheck::truncated: return "shorter than its frames";
  }
  return "?";
}

class FrameStore {
 public:
  // `size`: bytes available at `data` (for a loaded image, at least the file's size).
  FrameStore(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) { check_ = validate(); }

  StoreCheck check() const { return check_; }
  std::uint16_t count() const { return check_ == StoreCheck::ok ? u16(6) : 0; }
  std::uint16_t width() const { return u16(8); }
  std::uint16_t height() const { return u16(10); }
  std::uint8_t channels() const { return data_[12]; }
  std::uint32_t frame_bytes() const { return u32(16); }

  // Frame `i` (scene id i); empty if the store is bad or i is out of range.
  std::span<const std::uint8_t> frame(std::uint32_t i) const {
    if (check_ != StoreCheck::ok || i >= count()) return {};
    return {data_ + u32(20) + std::size_t(i) * frame_bytes(), frame_bytes()};
  }

 private:
  std::uint16_t u16(std::size_t at) const { return static_cast<std::uint16_t>(data_[at] | data_[at + 1] << 8); }
  std::uint32_t u32(std::size_t at) const {
    return std::uint32_t(data_[at]) | std::uint32_t(data_[at + 1]) << 8 | std::uint32_t(data_[at + 2]) << 16 |
           std::uint32_t(data_[at + 3]) << 24;
  }
  StoreCheck validate() const {
    if (data_ == nullptr || size_ < kStoreHeaderBytes) return StoreCheck::too_short;
    if (data_[0] != 'A' || data_[1] != 'C' || data_[2] != 'T' || data_[3] != 'F') return StoreCheck::bad_magic;
    if (u16(4) != 1) return StoreCheck::bad_version;
    if (frame_bytes() == 0 || frame_bytes() != std::uint32_t(width()) * height() * channels())
      return StoreCheck::bad_geometry;
    if (u32(20) < kStoreHeaderBytes || u32(20) > size_ || (size_ - u32(20)) / frame_bytes() < u16(6))
      return StoreCheck::truncated;
    return StoreCheck::ok;
  }

  const std::uint8_t* data_;
  std::size_t size_;
  StoreCheck check_;
};

}  // namespace camera_trap::scenes
