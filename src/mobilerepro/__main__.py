import sys

from mobilerepro.cli import main

sys.exit(main())
