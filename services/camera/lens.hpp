// The camera's image sensor, as a stand-in: a frame store holding one picture per scene
// (services/camera_trap/scenes: frames.bin). A trigger's scene says which picture is in front of
// the lens. On the Cortex-M7 camera board the store is the start of the external RAM, where
// QEMU's loader puts frames.bin (`-device loader,file=frames.bin,addr=0x60000000`, added by the
// cluster runner); reading a frame is a view into that memory (no copy), as a camera's DMA
// buffer would be. Hosted nodes and tests hand the store over with set_frame_store().
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "services/camera_trap/scenes/frame_store.hpp"

namespace camera_trap::camera {

struct Capture {
  std::span<const std::uint8_t> pixels;  // empty: nothing captured
  std::uint16_t width = 0;
  std::uint16_t height = 0;
  std::uint8_t channels = 0;
};

// The picture for `scene`; empty pixels if the store is missing, malformed or has no such scene.
Capture capture(std::uint16_t scene);

// Whether this node's frame store is usable (why not, otherwise).
scenes::StoreCheck lens_check();
std::uint16_t scene_count();

// Hosted nodes and tests: where the frame store's bytes are (they must outlive the camera).
void set_frame_store(const std::uint8_t* data, std::size_t size);

}  // namespace camera_trap::camera
