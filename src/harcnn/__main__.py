import sys

from harcnn.cli import main

sys.exit(main())
