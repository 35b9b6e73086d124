import sys

from ambience.cli import main

sys.exit(main())
