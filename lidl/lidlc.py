"""Entry point of the lidl compiler binary (//lidl:lidlc, //lidl:lidl)."""
import sys

from lidl.cli import main

if __name__ == "__main__":
    sys.exit(main())
