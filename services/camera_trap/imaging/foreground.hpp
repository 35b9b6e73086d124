// Foreground segmentation against a reference scene, for the camera trap's detection and
// recognition: both sub-sample the 320x240 RGB8 frame into blocks, compare each block with the
// empty scene and keep the largest connected blob of changed blocks.
//
// Per block, the frame's mean colour is compared with the reference's in two ways:
//   * luma after a global gain (the background's mean luma over the frame's), so dusk, sun or
//     an exposure change cancel out;
//   * chromaticity (r/(r+g+b), g/(r+g+b), scaled to 0..256), which ignores brightness: most
//     animals differ from grass more in hue than in brightness.
// The block's difference is the larger of the two (chroma weighted x2), taken as the minimum
// over the reference block and its 8 neighbours, so a camera that wobbled by a pixel or two
// does not light up the grass's texture. Blocks above the threshold are cleaned up by a 3x3
// opening (drops isolated blocks: noise, leaves) and a 3x3 closing (fills holes in a body), and
// the largest 8-connected blob is measured.
//
// Everything is integer arithmetic in fixed-size member arrays (6 bytes per block) and a
// constexpr reference (read-only data, flash on a board): no heap, no large stack frames, the
// same result on x86_64 and Cortex-M.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace camera_trap::imaging {

// Integer luma of an RGB colour (BT.601 weights /256, rounded).
constexpr std::uint32_t luma(std::uint32_t r, std::uint32_t g, std::uint32_t b) {
  return (77 * r + 150 * g + 29 * b + 128) >> 8;
}

// A blob of changed blocks: its area and bounding box (inclusive) in blocks.
struct Blob {
  std::uint32_t area = 0;
  std::uint16_t x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  std::uint32_t width() const { return area == 0 ? 0u : std::uint32_t(x1 - x0 + 1); }
  std::uint32_t height() const { return area == 0 ? 0u : std::uint32_t(y1 - y0 + 1); }
};

// A block's mean colour (RGB8 frame of `frame_width` pixels, blocks of `factor` pixels).
inline void block_mean(const std::uint8_t* frame, int frame_width, int factor, int bx, int by, std::uint8_t out[3]) {
  std::uint32_t sum[3] = {0, 0, 0};
  for (int y = 0; y < factor; ++y) {
    const std::uint8_t* row = frame + (std::size_t(by * factor + y) * frame_width + std::size_t(bx) * factor) * 3;
    for (int x = 0; x < factor * 3; x += 3) {
      sum[0] += row[x];
      sum[1] += row[x + 1];
      sum[2] += row[x + 2];
    }
  }
  const std::uint32_t n = std::uint32_t(factor) * factor;
  for (int k = 0; k < 3; ++k) out[k] = static_cast<std::uint8_t>((sum[k] + n / 2) / n);
}

// Chromaticity of a colour: r/(r+g+b) and g/(r+g+b), scaled to 0..255.
constexpr void chroma(const std::uint8_t* c, std::uint8_t& r, std::uint8_t& g) {
  const std::uint32_t sum = std::uint32_t(c[0]) + c[1] + c[2] + 1;
  r = static_cast<std::uint8_t>(std::uint32_t(c[0]) * 255 / sum);
  g = static_cast<std::uint8_t>(std::uint32_t(c[1]) * 255 / sum);
}

// The reference scene as the comparison needs it: per block its luma and chromaticity. Built at
// compile time from the block means (declare it `static constexpr`, so it stays read-only).
template <int kCells>
struct Reference {
  std::uint8_t luma[kCells] = {};
  std::uint8_t r[kCells] = {};
  std::uint8_t g[kCells] = {};

  // `rgb`: the empty scene's block means, RGB row-major (kCells * 3 bytes).
  constexpr explicit Reference(const std::uint8_t (&rgb)[kCells * 3]) {
    for (int i = 0; i < kCells; ++i) {
      const std::uint8_t* c = rgb + 3 * i;
      luma[i] = static_cast<std::uint8_t>(imaging::luma(c[0], c[1], c[2]));
      chroma(c, r[i], g[i]);
    }
  }
};

struct Tuning {
  // Per-block difference (luma levels, or chroma units x2) above which a block changed.
  std::uint32_t threshold = 32;
};

template <int kFrameWidth, int kFrameHeight, int kFactor>
class Foreground {
 public:
  static_assert(kFrameWidth % kFactor == 0 && kFrameHeight % kFactor == 0);
  static constexpr int kWidth = kFrameWidth / kFactor;
  static constexpr int kHeight = kFrameHeight / kFactor;
  static constexpr int kCells = kWidth * kHeight;
  static constexpr std::size_t kFrameBytes = std::size_t(kFrameWidth) * kFrameHeight * 3;
  static_assert(kCells <= 65535, "blob queue indices are 16 bit");

  using Ref = Reference<kCells>;

  explicit Foreground(const Ref& reference, Tuning tuning = {})
      : tuning_(tuning), ref_luma_(reference.luma), ref_r_(reference.r), ref_g_(reference.g) {}

  // Segments `frame` (RGB8, kFrameBytes); returns the largest blob (area 0: nothing changed).
  Blob segment(std::span<const std::uint8_t> frame) {
    sub_sample(frame.data());
    // First pass: gain over the whole frame, to find roughly what changed; second: gain over
    // what did not (an animal covering half the view must not count as a lighting change).
    gain_ = gain_over(nullptr);
    mark(false);
    std::uint32_t background = 0;
    for (int i = 0; i < kCells; ++i) background += mask_[i] == 0 ? 1u : 0u;
    if (background >= kCells / 4) gain_ = gain_over(mask_);
    mark(true);
    morph(true);   // erode: opening
    morph(false);  // dilate
    morph(false);  // dilate: closing
    morph(true);   // erode
    return largest_blob();
  }

  // After segment(): whether block i is in the blob.
  bool in_blob(int i) const { return mask_[i] == kInBlob; }
  // Background gain of the last frame, 16.16 fixed point (reference luma / frame luma).
  std::uint32_t gain() const { return gain_; }
  int changed_blocks() const { return changed_; }

 private:
  static constexpr std::uint8_t kChanged = 1, kSeen = 2, kInBlob = 3;

  void sub_sample(const std::uint8_t* frame) {
    for (int by = 0; by < kHeight; ++by) {
      for (int bx = 0; bx < kWidth; ++bx) {
        std::uint8_t c[3];
        block_mean(frame, kFrameWidth, kFactor, bx, by, c);
        const int i = by * kWidth + bx;
        luma_[i] = static_cast<std::uint8_t>(luma(c[0], c[1], c[2]));
        chroma(c, r_[i], g_[i]);
      }
    }
  }

  // Reference luma / frame luma over the blocks not marked in `exclude` (all if null).
  std::uint32_t gain_over(const std::uint8_t* exclude) const {
    std::uint64_t ref = 0, cur = 0;
    for (int i = 0; i < kCells; ++i) {
      if (exclude != nullptr && exclude[i] != 0) continue;
      ref += ref_luma_[i];
      cur += luma_[i];
    }
    if (cur == 0) return 1u << 16;
    const std::uint64_t g = (ref << 16) / cur;
    return g > (16u << 16) ? (16u << 16) : static_cast<std::uint32_t>(g);
  }

  static std::uint32_t absdiff(std::uint32_t a, std::uint32_t b) { return a > b ? a - b : b - a; }

  std::uint32_t difference(int i, int j) const {
    std::uint32_t y = (std::uint32_t(luma_[i]) * gain_) >> 16;
    if (y > 255) y = 255;
    const std::uint32_t dl = absdiff(y, ref_luma_[j]);
    const std::uint32_t dc = 2 * (absdiff(r_[i], ref_r_[j]) + absdiff(g_[i], ref_g_[j]));
    return dl > dc ? dl : dc;
  }

  void mark(bool jitter) {
    changed_ = 0;
    for (int y = 0; y < kHeight; ++y) {
      for (int x = 0; x < kWidth; ++x) {
        const int i = y * kWidth + x;
        std::uint32_t best = difference(i, i);
        if (jitter) {
          for (int dy = -1; dy <= 1 && best > tuning_.threshold; ++dy) {
            const int ry = y + dy;
            if (ry < 0 || ry >= kHeight) continue;
            for (int dx = -1; dx <= 1; ++dx) {
              const int rx = x + dx;
              if (rx < 0 || rx >= kWidth) continue;
              const std::uint32_t d = difference(i, ry * kWidth + rx);
              if (d < best) best = d;
            }
          }
        }
        mask_[i] = best > tuning_.threshold ? kChanged : 0;
        changed_ += mask_[i];
      }
    }
  }

  // One 3x3 erosion (a block stays only if its 8 neighbours are set) or dilation; outside the
  // frame counts as unset, so a closing does not grow blobs along the border.
  void morph(bool erode) {
    for (int y = 0; y < kHeight; ++y) {
      for (int x = 0; x < kWidth; ++x) {
        bool any = false, all = true;
        for (int dy = -1; dy <= 1; ++dy) {
          const int ny = y + dy;
          for (int dx = -1; dx <= 1; ++dx) {
            const int nx = x + dx;
            if (ny < 0 || ny >= kHeight || nx < 0 || nx >= kWidth) {
              all = false;
              continue;
            }
            const bool set = mask_[ny * kWidth + nx] != 0;
            any = any || set;
            all = all && set;
          }
        }
        work_.scratch[y * kWidth + x] = (erode ? all : any) ? kChanged : 0;
      }
    }
    for (int i = 0; i < kCells; ++i) mask_[i] = work_.scratch[i];
  }

  // Floods the blob containing `seed` (blocks marked `from`), marking it `to`; returns it.
  Blob flood(int seed, std::uint8_t from, std::uint8_t to) {
    Blob blob;
    blob.x0 = blob.x1 = static_cast<std::uint16_t>(seed % kWidth);
    blob.y0 = blob.y1 = static_cast<std::uint16_t>(seed / kWidth);
    int head = 0, tail = 0;
    work_.queue[tail++] = static_cast<std::uint16_t>(seed);
    mask_[seed] = to;
    while (head < tail) {
      const int i = work_.queue[head++];
      const int x = i % kWidth, y = i / kWidth;
      ++blob.area;
      if (x < blob.x0) blob.x0 = static_cast<std::uint16_t>(x);
      if (x > blob.x1) blob.x1 = static_cast<std::uint16_t>(x);
      if (y < blob.y0) blob.y0 = static_cast<std::uint16_t>(y);
      if (y > blob.y1) blob.y1 = static_cast<std::uint16_t>(y);
      for (int dy = -1; dy <= 1; ++dy) {
        const int ny = y + dy;
        if (ny < 0 || ny >= kHeight) continue;
        for (int dx = -1; dx <= 1; ++dx) {
          const int nx = x + dx;
          if (nx < 0 || nx >= kWidth) continue;
          const int j = ny * kWidth + nx;
          if (mask_[j] != from) continue;
          mask_[j] = to;
          work_.queue[tail++] = static_cast<std::uint16_t>(j);  // each block enters once: tail <= kCells
        }
      }
    }
    return blob;
  }

  Blob largest_blob() {
    Blob best;
    int best_seed = -1;
    for (int i = 0; i < kCells; ++i) {
      if (mask_[i] != kChanged) continue;
      const Blob b = flood(i, kChanged, kSeen);
      if (b.area > best.area) {
        best = b;
        best_seed = i;
      }
    }
    if (best_seed >= 0) flood(best_seed, kSeen, kInBlob);
    return best;
  }

  Tuning tuning_;
  std::uint32_t gain_ = 1u << 16;
  int changed_ = 0;
  const std::uint8_t* ref_luma_;
  const std::uint8_t* ref_r_;
  const std::uint8_t* ref_g_;
  std::uint8_t luma_[kCells];
  std::uint8_t r_[kCells];
  std::uint8_t g_[kCells];
  std::uint8_t mask_[kCells];
  // The morphology's scratch mask and the flood fill's queue are never needed at once.
  union {
    std::uint8_t scratch[kCells];
    std::uint16_t queue[kCells];
  } work_;
};

}  // namespace camera_trap::imaging
