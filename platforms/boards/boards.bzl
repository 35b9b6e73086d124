"""Every board Ambience builds for, described once.

BOARD_DESCRIPTIONS is the only place a board's facts are written. It is read
  - by Starlark: the board support packages and their linker scripts (BUILD.bazel, generated
    from cortex_m.ld.in), mcu_image and qemu_test (platform, QEMU machine), deployment();
  - by the deployment planner: //tools/facts merges it with the kernel facts compiled for each
    board's platform into target_facts.json, an input of every planning action.
Plain data only (strings, integers, lists), so that every reader sees exactly the same values.

Sizes are bytes. What the kernel itself needs (ring regions, group slots, MPU regions it
programs) is not a board fact: it is exported from the kernel's headers (kernel/arch/*/facts.cc).
"""

BOARD_DESCRIPTIONS = [
    # QEMU mps2-an386: Cortex-M4, the stand-in for the nRF52840 (same core, 256 KiB RAM).
    {
        "name": "mps2_an386",
        "label": "//platforms/boards:mps2_an386",
        "aliases": ["//platforms:mps2_an386"],
        "kind": "mcu",
        "platform": "//platforms:cortex_m4",
        "mcu_constraint": "//platforms:m4",
        "bsp": "//platforms/boards:mps2_an386",
        "cpu": "cortex-m4",
        "qemu_machine": "mps2-an386",
        # Code in SSRAM1, data in SSRAM2, where QEMU maps them (both are larger in QEMU; these
        # are the stand-in part's sizes): 512 KiB at 0x0 and 256 KiB at 0x20000000.
        "flash_base": 0x00000000,
        "flash_bytes": 0x80000,
        "ram_base": 0x20000000,
        "ram_bytes": 0x40000,
        # The main (kernel) stack at the top of RAM: 8 KiB.
        "main_stack_bytes": 0x2000,
        # PMSAv7 data regions (MPU_TYPE.DREGION).
        "mpu_regions": 8,
        # The planner's estimate of the kernel's own RAM (data, bss, heap) before any group: 32 KiB.
        "kernel_ram_bytes": 0x8000,
    },
    # QEMU mps2-an500: Cortex-M7, the stand-in for the STM32F746.
    {
        "name": "mps2_an500",
        "label": "//platforms/boards:mps2_an500",
        "aliases": ["//platforms:mps2_an500"],
        "kind": "mcu",
        "platform": "//platforms:cortex_m7",
        "mcu_constraint": "//platforms:m7",
        "bsp": "//platforms/boards:mps2_an500",
        "cpu": "cortex-m7",
        "qemu_machine": "mps2-an500",
        "flash_base": 0x00000000,
        "flash_bytes": 0x80000,
        "ram_base": 0x20000000,
        "ram_bytes": 0x40000,
        "main_stack_bytes": 0x2000,
        "mpu_regions": 8,
        "kernel_ram_bytes": 0x8000,
        # External RAM, the camera module's frame memory (QEMU's 16 MiB "mps.ram" of the AN500
        # at 0x60000000, like the SDRAM of a real camera MCU). Its first frame_store_bytes hold
        # the frame store the camera's sensor stand-in reads (filled by QEMU's loader); the rest
        # is the .ext_ram section: the kernel's large message buffers (RPC of whole frames).
        "ext_ram_base": 0x60000000,
        "ext_ram_bytes": 0x1000000,
        "frame_store_bytes": 0x800000,
    },
    # Linux x86-64: a node is a supervisor process and one process per group.
    {
        "name": "linux_x86_64",
        "label": "//platforms:linux_x86_64",
        "aliases": ["//platforms/boards:linux_x86_64"],
        "kind": "hosted",
        "platform": "//platforms:linux_x86_64",
        "cpu": "x86_64",
        # A node's default memory budget: 1 GiB.
        "ram_bytes": 0x40000000,
        # The planner's estimates of resident memory: the supervisor (4 MiB) and each group
        # process besides its services (4 MiB: the touched part of its ring region and arenas,
        # which are mapped far larger but cost memory only once written).
        "kernel_ram_bytes": 0x400000,
        "group_process_ram_bytes": 0x400000,
    },
]

# Microcontroller boards by name, as structs: what the Starlark rules use.
BOARDS = {d["name"]: struct(**d) for d in BOARD_DESCRIPTIONS if d["kind"] == "mcu"}

def board_info(board):
    """Looks an MCU board up by label ("//platforms/boards:mps2_an386") or plain name."""
    key = board.split(":")[-1] if ":" in board else board
    if key not in BOARDS:
        fail("unknown board '%s' (known: %s)" % (board, ", ".join(sorted(BOARDS.keys()))))
    return BOARDS[key]

def _hex(value):
    # Bazel 4's Starlark has no %x.
    digits = "0123456789abcdef"
    out = ""
    for _ in range(8):
        out = digits[value % 16] + out
        value = value // 16
    return "0x" + out

def linker_script_substitutions(board):
    """The values cortex_m.ld.in takes for an MCU board."""
    b = board_info(board)
    return {
        "@BOARD@": b.name,
        "@FLASH_BASE@": _hex(b.flash_base),
        "@FLASH_BYTES@": "%d" % b.flash_bytes,
        "@RAM_BASE@": _hex(b.ram_base),
        "@RAM_BYTES@": "%d" % b.ram_bytes,
        "@MAIN_STACK_BYTES@": "%d" % b.main_stack_bytes,
        "@EXT_RAM_MEMORY@": _ext_ram_memory(b),
        "@EXT_RAM_REGION@": "EXT_RAM" if getattr(b, "ext_ram_bytes", 0) else "RAM",
    }

def _ext_ram_memory(b):
    """The MEMORY line of a board's external RAM past its frame store, or nothing."""
    if not getattr(b, "ext_ram_bytes", 0):
        return ""
    base = b.ext_ram_base + b.frame_store_bytes
    return "EXT_RAM (rw) : ORIGIN = %s, LENGTH = %d" % (_hex(base), b.ext_ram_bytes - b.frame_store_bytes)
