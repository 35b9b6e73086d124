"""The boards Ambience can build images for: one line each, used by mcu_image and deployments."""

BOARDS = {
    "mps2_an386": struct(
        platform = "//platforms:cortex_m4",
        qemu_machine = "mps2-an386",
        bsp = "//platforms/boards:mps2_an386",
        cpu = "cortex-m4",
        flash_bytes = 512 * 1024,
        ram_bytes = 256 * 1024,
    ),
    "mps2_an500": struct(
        platform = "//platforms:cortex_m7",
        qemu_machine = "mps2-an500",
        bsp = "//platforms/boards:mps2_an500",
        cpu = "cortex-m7",
        flash_bytes = 512 * 1024,
        ram_bytes = 256 * 1024,
    ),
}

def board_info(board):
    """Looks a board up by label ("//platforms/boards:mps2_an386") or plain name."""
    key = board.split(":")[-1] if ":" in board else board
    if key not in BOARDS:
        fail("unknown board '%s' (known: %s)" % (board, ", ".join(sorted(BOARDS.keys()))))
    return BOARDS[key]
