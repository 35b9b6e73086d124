import sys

from lidl.cli import main

sys.exit(main())
