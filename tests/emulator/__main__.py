"""``python -m tests.emulator``: see ``--help``."""

from tests.emulator.cli import main

raise SystemExit(main())
