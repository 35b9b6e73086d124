#include "services/camera/lens.hpp"

#include "platforms/boards/ext_ram.hpp"

namespace camera_trap::camera {
namespace {

// The camera board's store is its external RAM (filled before the board boots); elsewhere there
// is none until set_frame_store().
scenes::FrameStore& store() {
  static scenes::FrameStore s(
      ::ambience::board::kHasExtRam ? reinterpret_cast<const std::uint8_t*>(::ambience::board::kExtRamBase) : nullptr,
      ::ambience::board::kFrameStoreBytes);
  return s;
}

}  // namespace

void set_frame_store(const std::uint8_t* data, std::size_t size) { store() = scenes::FrameStore(data, size); }

scenes::StoreCheck lens_check() { return store().check(); }
std::uint16_t scene_count() { return store().count(); }

Capture capture(std::uint16_t scene) {
  const scenes::FrameStore& s = store();
  const std::span<const std::uint8_t> pixels = s.frame(scene);
  if (pixels.empty()) return {};
  return Capture{pixels, s.width(), s.height(), s.channels()};
}

}  // namespace camera_trap::camera
