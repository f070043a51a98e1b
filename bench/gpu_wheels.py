"""Downloads the wheels the GPU machines lack, for `bench.gpu_jax`.

The GPU machines have JAX (with its dependencies) and PyTorch (with its)
for Python 3.12 on x86-64 Linux, and no TensorFlow, Keras or keras-hub;
nothing outside them can be reached, and at most 64 MiB travel with the
working tree. This step, run where PyPI is reachable, fetches Keras,
keras-hub, HF transformers and the dependencies of theirs that
`bench.gpu_jax` imports, each at the version this environment (the one
the tests run in) has, without their dependency trees (keras-hub's pull in
tensorflow-text and with it TensorFlow):

```
python -m bench.gpu_wheels --dest .whl
```

prints the wheels with their sizes and refuses a total of 64 MiB or more.
On the GPU machine (bench/README.md):

```
pip install --no-deps --no-index --target /tmp/site .whl/*.whl
PYTHONPATH=/tmp/site KERAS_BACKEND=jax python -m bench.gpu_jax
```

`tests/bench/test_gpu_jax.py` runs the tiny path where only the GPU
machine's distributions and these wheels can be imported.
"""

import argparse
import importlib.metadata
import os
import re
import subprocess
import sys

# What the GPU machines have: JAX 0.11 and PyTorch 2.11 with their
# dependencies. These are not carried: a copy in front of the machine's
# own would shadow the builds JAX and PyTorch were installed with.
GPU_MACHINE_DISTRIBUTIONS = (
    "jax", "jaxlib", "jax-cuda12-plugin", "jax-cuda12-pjrt", "numpy", "ml-dtypes",
    "opt-einsum", "scipy", "torch", "triton", "filelock", "typing-extensions",
    "sympy", "mpmath", "networkx", "jinja2", "markupsafe", "fsspec", "setuptools",
)  # fmt: skip

# (distribution, why `bench.gpu_jax` needs it). Versions: this environment's.
WHEELS = (
    ("keras", "the Keras rows"),
    ("keras-hub", "keras-albert's base classes and the keras-hub row"),
    ("absl-py", "keras, keras-hub"),
    ("namex", "keras"),
    ("optree", "keras"),
    ("h5py", "keras saving"),
    ("packaging", "keras, keras-hub, transformers"),
    ("rich", "keras"),
    ("markdown-it-py", "rich"),
    ("mdurl", "markdown-it-py"),
    ("pygments", "rich"),
    ("regex", "keras-hub, transformers"),
    ("sentencepiece", "keras-albert's tokenizer module"),
    ("transformers", "the HF PyTorch rows"),
    ("tokenizers", "transformers"),
    ("huggingface-hub", "transformers"),
    ("safetensors", "transformers"),
    ("pyyaml", "transformers"),
    ("tqdm", "transformers"),
    ("httpx2", "huggingface-hub"),
    ("httpcore2", "httpx2"),
    ("anyio", "httpx2"),
    ("idna", "httpx2"),
    ("truststore", "httpx2"),
    ("h11", "httpcore2"),
    ("certifi", "httpcore2"),
)
# The GPU machines' Python and platform.
PYTHON_VERSION = "3.12"
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
LIMIT_BYTES = 64 * 2**20


def canonical(name):
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned_requirements():
    """`name==version` of every wheel, at this environment's versions."""
    requirements = []
    for name, _ in WHEELS:
        try:
            requirements.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            raise SystemExit(
                f"{name} is not installed here, so its tested version is unknown: "
                f"pip install -e '.[test]' first."
            ) from None
    return requirements


def download(dest, timeout_s):
    """Downloads the wheels into `dest`; returns [(file name, bytes)]."""
    os.makedirs(dest, exist_ok=True)
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--python-version", PYTHON_VERSION, "--implementation", "cp",
        "--abi", f"cp{PYTHON_VERSION.replace('.', '')}", "--abi", "abi3", "--abi", "none",
        *[arg for platform in PLATFORMS for arg in ("--platform", platform)],
        "--platform", "any", "--dest", dest, *pinned_requirements(),
    ]  # fmt: skip
    subprocess.run(command, check=True, timeout=timeout_s)
    wanted = {canonical(name) for name, _ in WHEELS}
    wheels = [
        (file, os.path.getsize(os.path.join(dest, file)))
        for file in sorted(os.listdir(dest))
        if file.endswith(".whl") and canonical(file.split("-")[0]) in wanted
    ]
    missing = wanted - {canonical(file.split("-")[0]) for file, _ in wheels}
    if missing:
        raise SystemExit(f"pip download left out {sorted(missing)} in {dest}.")
    return wheels


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.gpu_wheels", description=__doc__.split("\n")[0])
    parser.add_argument("--dest", default=".whl", help="Folder for the wheels (gitignored).")
    parser.add_argument("--timeout_s", type=int, default=600, help="Bound on pip download.")
    args = parser.parse_args(argv)
    wheels = download(args.dest, args.timeout_s)
    print(size_report(wheels))
    return wheels


def size_report(wheels):
    """Each wheel's size and the total; refuses a total at the limit or above."""
    total = sum(size for _, size in wheels)
    lines = [f"{size / 2**20:8.2f} MiB  {file}" for file, size in wheels]
    lines.append(f"{total / 2**20:8.2f} MiB  total, limit {LIMIT_BYTES / 2**20:.0f} MiB")
    if total >= LIMIT_BYTES:
        raise SystemExit(
            "\n".join(lines) + f"\nThe wheels take {total / 2**20:.1f} MiB; the GPU machines take less than 64 MiB."
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
