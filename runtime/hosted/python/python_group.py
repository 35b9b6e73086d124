"""Entry point of a Python group process (the executable the supervisor starts for it)."""
import sys

from runtime.hosted.python import group

sys.exit(group.main(sys.argv))
