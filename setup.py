"""keras-albert: ALBERT (Lan et al. 2019) for Keras 3 and TensorFlow."""

import re

from setuptools import find_packages, setup

# Pinned to the versions the project is tested with. `tensorflow`, not
# `tensorflow-cpu`: tensorflow-text and tensorflow-serving-api depend on it.
INSTALL_REQUIRES = [
    "tensorflow==2.21.0",
    "keras==3.15.1",
    "keras-hub==0.32.0",
    "tensorflow-text==2.21.1",
    "tensorflow-serving-api==2.21.0",
    "absl-py>=2.1,<3",
    "sentencepiece==0.2.3",
    "safetensors==0.8.0",
    "seqeval==1.2.2",
    "ai-edge-litert==2.3.0",
    "numpy>=1.26,<3",
    "scikit-learn==1.9.1",
    "scipy==1.17.1",
    # TensorFlow 2.21 no longer pulls it in; the training programs write logs.
    "tensorboard==2.21.0",
    # Training curves (PNG) next to eval_results.json.
    "matplotlib==3.11.2",
]

WING_PACKAGES = {"keras_albert_tasks": "tasks", "keras_albert_export": "export"}
# The console scripts of the programs: the names in keras_albert_cli.COMMANDS
# (read without importing it, which would need the dependencies installed).
COMMANDS = re.findall(
    r'^    "(albert-[a-z-]+)": "', open("keras_albert_cli.py", encoding="utf-8").read(), re.M
)

EXTRAS_REQUIRE = {
    # HuggingFace + PyTorch are test-only references for numerical parity
    # and checkpoint conversion; the library itself never imports torch.
    # PyTorch and JAX (CPU build) also run the models on the other Keras
    # backends and the GPU benchmark's code path in the tests.
    "test": [
        "pytest>=8,<10",
        "torch==2.13.0",
        "transformers==5.23.0",
        "jax==0.10.2",
    ],
}

setup(
    name="keras-albert",
    version="0.1.0",
    description="ALBERT for Keras 3: backbone, task heads, conversion, "
    "training, TF Serving and TFLite export.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.11,<3.13",
    # The repository's `tasks/` and `export/` wings install under names of
    # their own: top-level `tasks` and `export` would clash in site-packages.
    packages=find_packages(include=["keras_albert", "keras_albert.*"]) + list(WING_PACKAGES),
    package_dir=WING_PACKAGES,
    py_modules=["keras_albert_cli"],
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
    entry_points={
        # keras_albert_cli.main runs the program its command name maps to.
        "console_scripts": [f"{command}=keras_albert_cli:main" for command in COMMANDS]
    },
)
