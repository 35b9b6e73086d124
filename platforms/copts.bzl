"""Compiler flags for Ambience's own C++ (not third-party headers)."""

# -std=c++20 comes from .bazelrc for every configuration (host and MCU).
AMBIENCE_COPTS = [
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wno-missing-field-initializers",
]

# Kernel code must also build for microcontrollers: no exceptions, no RTTI.
KERNEL_COPTS = AMBIENCE_COPTS + [
    "-fno-exceptions",
    "-fno-rtti",
]
