"""``python -m examples.force2020``: the main job (see :mod:`examples.force2020.demo`)."""

from __future__ import annotations

import sys

from .demo import main

sys.exit(main())
