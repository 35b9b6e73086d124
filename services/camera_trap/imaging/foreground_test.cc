// Foreground on synthetic frames: what must not change the mask, and what must.
#include "services/camera_trap/imaging/foreground.hpp"

#include <cstdint>

#include "kernel/testing/test.hpp"

namespace {

using camera_trap::imaging::Blob;
constexpr int kW = 64, kH = 48, kF = 4;
using Fg = camera_trap::imaging::Foreground<kW, kH, kF>;

// Static: frames and the segmenter are too big for a test's stack on a board.
std::uint8_t g_frame[kW * kH * 3];
std::uint8_t g_reference[Fg::kCells * 3];
Fg* g_fg = nullptr;

// A textured green background (deterministic), and its block means as the reference.
void paint_background(int brightness_percent) {
  for (int y = 0; y < kH; ++y) {
    for (int x = 0; x < kW; ++x) {
      const int t = ((x * 7 + y * 13) % 9) * 3;
      std::uint8_t* p = g_frame + (y * kW + x) * 3;
      p[0] = static_cast<std::uint8_t>((40 + t) * brightness_percent / 100);
      p[1] = static_cast<std::uint8_t>((110 + t) * brightness_percent / 100);
      p[2] = static_cast<std::uint8_t>((30 + t) * brightness_percent / 100);
    }
  }
}

void paint_rect(int x0, int y0, int w, int h) {
  for (int y = y0; y < y0 + h; ++y) {
    for (int x = x0; x < x0 + w; ++x) {
      std::uint8_t* p = g_frame + (y * kW + x) * 3;
      p[0] = 180;
      p[1] = 120;
      p[2] = 60;
    }
  }
}

Fg& segmenter() {
  static bool made = false;
  alignas(Fg) static unsigned char storage[sizeof(Fg)];
  if (!made) {
    paint_background(100);
    for (int by = 0; by < Fg::kHeight; ++by) {
      for (int bx = 0; bx < Fg::kWidth; ++bx) {
        for (int c = 0; c < 3; ++c) {
          unsigned sum = 0;
          for (int y = 0; y < kF; ++y)
            for (int x = 0; x < kF; ++x) sum += g_frame[((by * kF + y) * kW + bx * kF + x) * 3 + c];
          g_reference[(by * Fg::kWidth + bx) * 3 + c] = static_cast<std::uint8_t>((sum + 8) / 16);
        }
      }
    }
    static const Fg::Ref reference(g_reference);
    g_fg = new (storage) Fg(reference);
    made = true;
  }
  return *g_fg;
}

}  // namespace

AMBIENCE_TEST(unchanged_scene_has_no_blob) {
  Fg& fg = segmenter();
  paint_background(100);
  CHECK_EQ(fg.segment(g_frame).area, 0u);
  CHECK_EQ(fg.changed_blocks(), 0);
}

AMBIENCE_TEST(brightness_change_is_normalised) {
  Fg& fg = segmenter();
  paint_background(60);
  CHECK_EQ(fg.segment(g_frame).area, 0u);
  CHECK(fg.gain() > (1u << 16));
}

AMBIENCE_TEST(a_square_is_found_with_its_box) {
  Fg& fg = segmenter();
  paint_background(100);
  paint_rect(16, 12, 24, 16);  // blocks 4..9 x 3..6
  const Blob b = fg.segment(g_frame);
  CHECK_EQ(b.area, 24u);
  CHECK_EQ(b.x0, 4);
  CHECK_EQ(b.x1, 9);
  CHECK_EQ(b.y0, 3);
  CHECK_EQ(b.y1, 6);
  CHECK(fg.in_blob(4 * Fg::kWidth + 5));
  CHECK(!fg.in_blob(0));
}

AMBIENCE_TEST(a_speck_is_cleaned_up) {
  Fg& fg = segmenter();
  paint_background(100);
  paint_rect(20, 20, 4, 4);  // one block
  CHECK_EQ(fg.segment(g_frame).area, 0u);
  CHECK(fg.changed_blocks() >= 1);
}

AMBIENCE_TEST(the_largest_of_two_blobs_wins) {
  Fg& fg = segmenter();
  paint_background(100);
  paint_rect(0, 0, 16, 16);    // 4x4 blocks
  paint_rect(36, 24, 24, 20);  // 6x5 blocks
  const Blob b = fg.segment(g_frame);
  CHECK_EQ(b.area, 30u);
  CHECK_EQ(b.x0, 9);
  CHECK(!fg.in_blob(0));
}
