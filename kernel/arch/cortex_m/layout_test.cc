#include "kernel/arch/cortex_m/layout.hpp"
#include "kernel/testing/test.hpp"

using namespace ambience::mcu;

static_assert(fit_region(1).size == 32);
static_assert(fit_region(32).size == 32);
static_assert(fit_region(33).size == 64);
static_assert(fit_region(9 * 1024).size == 16 * 1024 && fit_region(9 * 1024).waste == 7 * 1024);

AMBIENCE_TEST(regions_are_powers_of_two_of_at_least_32_bytes) {
  for (std::uint32_t needed = 1; needed < 70000; needed += 37) {
    const RegionFit f = fit_region(needed);
    CHECK(f.size >= 32);
    CHECK((f.size & (f.size - 1)) == 0);
    CHECK(f.size >= needed);
    CHECK(f.size / 2 < needed || f.size == 32);  // smallest that fits
    CHECK_EQ(f.waste, f.size - needed);
    CHECK_EQ(std::uint32_t{1} << f.size_log2, f.size);
  }
}

AMBIENCE_TEST(exact_powers_waste_nothing) {
  CHECK_EQ(fit_region(4096).waste, 0u);
  CHECK_EQ(fit_region(4096).size_log2, 12u);
  CHECK_EQ(fit_region(4097).size, 8192u);
}

AMBIENCE_TEST(shareable_buffers_are_aligned_powers_of_two) {
  CHECK(mpu_shareable(0x20001000, 64));
  CHECK(mpu_shareable(0x20001000, 4096));
  CHECK(!mpu_shareable(0x20001010, 64));  // misaligned
  CHECK(!mpu_shareable(0x20001000, 48));  // not a power of two
  CHECK(!mpu_shareable(0x20001000, 16));  // below the MPU minimum
  CHECK(!mpu_shareable(0x20000800, 4096));
}
