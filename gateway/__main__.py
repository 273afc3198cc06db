"""``python -m gateway`` is ``dvc-gateway``."""

import sys

from gateway.cli import main

sys.exit(main())
