"""Makes `tensorflow` and `tensorflow_text` unimportable, as on the GPU
machines, for a process that has this folder on its `PYTHONPATH`
(Python imports `sitecustomize` at start-up)."""

import sys

BLOCKED = ("tensorflow", "tensorflow_text")


class _TensorFlowBlocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"No module named {name!r} (blocked by tests/tensorflow_blocker)")
        return None


sys.meta_path.insert(0, _TensorFlowBlocker())
