"""Makes a process see only what a GPU machine has, for a process that has
this folder on its `PYTHONPATH` behind a folder of links to those
distributions (`link_gpu_machine_site` in tests/bench/test_gpu_jax.py): the
environment's site-packages leave `sys.path`, so anything else is absent
exactly as there (not found, not failing to load). Subprocesses inherit
`PYTHONPATH`, and with it the same view."""

import sys

sys.path[:] = [entry for entry in sys.path if not entry.rstrip("/").endswith("site-packages")]
