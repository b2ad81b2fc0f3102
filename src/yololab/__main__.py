import sys

from yololab.cli import main

sys.exit(main())
