// A board's external RAM, where it has one (boards.bzl: ext_ram_*): the Cortex-M7 camera board's
// 16 MiB frame memory. Its first kFrameStoreBytes are the frame store the camera's sensor
// stand-in reads (QEMU's loader fills it); the rest holds the .ext_ram section, where large
// buffers go (AMBIENCE_EXT_RAM). On boards without it .ext_ram is part of RAM; on hosted nodes
// the attribute is nothing.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ambience::board {

#if defined(AMBIENCE_EXT_RAM_BYTES)
inline constexpr std::uintptr_t kExtRamBase = AMBIENCE_EXT_RAM_BASE;
inline constexpr std::size_t kExtRamBytes = AMBIENCE_EXT_RAM_BYTES;
inline constexpr std::size_t kFrameStoreBytes = AMBIENCE_FRAME_STORE_BYTES;
#else
inline constexpr std::uintptr_t kExtRamBase = 0;
inline constexpr std::size_t kExtRamBytes = 0;
inline constexpr std::size_t kFrameStoreBytes = 0;
#endif

// Whether large messages (whole camera frames) fit this board's memory.
inline constexpr bool kHasExtRam = kExtRamBytes != 0;

}  // namespace ambience::board

#if defined(__arm__)
#define AMBIENCE_EXT_RAM __attribute__((section(".ext_ram")))
#else
#define AMBIENCE_EXT_RAM
#endif
