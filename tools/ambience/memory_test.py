"""MPU layout: power-of-two regions aligned to their size, at the top of RAM below the stack."""
from ambience.memory import layout_mcu, mpu_region_size


def test_region_sizes():
    assert [mpu_region_size(n, 32) for n in (0, 1, 32, 33, 1000, 1024, 1025)] == [32, 32, 32, 64, 1024, 1024, 2048]


def test_layout_fills_down_from_the_stack_without_gaps_when_possible():
    # top = 0x2003e000 (256 KiB RAM, 8 KiB stack): only 8 KiB alignment there, so the 4 KiB region
    # goes first, then the 128-byte one... greedy picks the largest region that fits exactly.
    lay = layout_mcu(0x20000000, 256 * 1024, 8 * 1024, 20 * 1024, [("a", 3000), ("b", 9000), ("c", 100), ("d", 9000)], 32)
    for r in lay.regions:
        assert r.base % r.size == 0 and r.size >= r.needed
    spans = sorted((r.base, r.base + r.size) for r in lay.regions)
    for (_, e1), (b2, _) in zip(spans, spans[1:]):
        assert e1 <= b2
    assert spans[-1][1] <= 0x20040000 - 8 * 1024
    assert {r.group: r.size for r in lay.regions} == {"a": 4096, "b": 16384, "c": 128, "d": 16384}
    assert lay.regions_start == spans[0][0] and lay.kernel_size == spans[0][0] - 0x20000000
    assert lay.waste == (16384 - 9000) * 2 + (4096 - 3000) + (128 - 100) + lay.gaps
    assert lay.gaps < 4096


def test_exact_fit_has_no_gap():
    lay = layout_mcu(0x20000000, 256 * 1024, 8 * 1024, 1000, [("x", 16000), ("y", 8000)], 32)
    assert [(r.group, hex(r.base), r.size) for r in lay.regions] == [("x", "0x20038000", 16384), ("y", "0x2003c000", 8192)]
    assert lay.gaps == 0 and lay.used == 1000 + 16384 + 8192 + 8192


def test_layout_without_groups():
    lay = layout_mcu(0x20000000, 65536, 4096, 1001, [], 32)
    assert lay.regions == () and lay.kernel_size == 65536 - 4096 and lay.used == 1001 + 4096
