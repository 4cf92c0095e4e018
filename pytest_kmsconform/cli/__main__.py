"""``python -m pytest_kmsconform.cli``: the ``kmsconform`` command without the console script."""

import sys

from pytest_kmsconform.cli import console_main

sys.exit(console_main())
