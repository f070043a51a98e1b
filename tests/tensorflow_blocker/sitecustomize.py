"""Makes `tensorflow` and `tensorflow_text` absent, as on the GPU machines,
for a process that has this folder on its `PYTHONPATH` (Python imports
`sitecustomize` at start-up): the path finder no longer finds them, so
`import tensorflow` raises `ModuleNotFoundError` and
`importlib.util.find_spec("tensorflow")` is None, as where it is not
installed (PyTorch, for one, probes optional modules that way)."""

import importlib.machinery
import sys

BLOCKED = ("tensorflow", "tensorflow_text")


class _PathFinderWithoutTensorFlow(importlib.machinery.PathFinder):
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            return None
        return super().find_spec(name, path, target)


sys.meta_path[:] = [
    _PathFinderWithoutTensorFlow if finder is importlib.machinery.PathFinder else finder
    for finder in sys.meta_path
]
