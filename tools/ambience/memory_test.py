"""MPU layout: power-of-two regions aligned to their size, packed without gaps after the kernel."""
from ambience.memory import layout_mcu, mpu_region_size


def test_region_sizes():
    assert [mpu_region_size(n) for n in (0, 1, 32, 33, 1000, 1024, 1025)] == [32, 32, 32, 64, 1024, 1024, 2048]


def test_layout_packs_largest_first_after_aligned_kernel():
    lay = layout_mcu(0x20000000, 256 * 1024, 8 * 1024, 20 * 1024, [("a", 3000), ("b", 9000), ("c", 100), ("d", 9000)])
    assert [(r.group, hex(r.base), r.size) for r in lay.regions] == [
        ("b", "0x20008000", 16384), ("d", "0x2000c000", 16384), ("a", "0x20010000", 4096), ("c", "0x20011000", 128)]
    for r in lay.regions:
        assert r.base % r.size == 0
    for r1, r2 in zip(lay.regions, lay.regions[1:]):
        assert r1.base + r1.size == r2.base
    assert lay.kernel_size == 0x8000 and lay.kernel_slack == 12 * 1024
    assert lay.waste == (16384 - 9000) * 2 + (4096 - 3000) + (128 - 100) + 12 * 1024
    assert lay.used == 0x11080 + 8 * 1024 and lay.free == 256 * 1024 - 8 * 1024 - 0x11080


def test_layout_without_groups():
    lay = layout_mcu(0x20000000, 65536, 4096, 1001, [])
    assert lay.regions == () and lay.kernel_size == 1008 and lay.used == 1008 + 4096
