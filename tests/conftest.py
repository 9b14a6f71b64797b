"""The fake backends are registered in the test process too, so that commands can run in-process."""

import os

from tests.fake_backend import PLUGINS

os.environ.setdefault("ALEXBENCH_BACKENDS", PLUGINS)
