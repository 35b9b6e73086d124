import sys

from ambience.cluster.runner import main

sys.exit(main())
