"""`python -m api.simulation`: a synthetic history into the store of --database-url."""

import sys

from api.simulation.command import main

sys.exit(main())
