"""Python runtime for the lidl wire format (see lidl/WIRE.md)."""
from lidl.runtime.codec import *  # noqa: F401,F403
