"""The ALBERT architectures of the original release, and preset resolution.

These machines cannot download weights, so a preset *name* is only an
architecture until its checkpoint has been converted to a local preset
directory (`python -m keras_albert.convert`). Names resolve to
`$KERAS_ALBERT_PRESETS/<name>` (default `~/.keras_albert/presets/<name>`).
"""

import os

# size: (hidden_dim, num_layers, num_heads, intermediate_dim), from the
# original release's albert_config.json files (Lan et al. 2019, table 1).
_SIZES = {
    "base": (768, 12, 12, 3072),
    "large": (1024, 24, 16, 4096),
    "xlarge": (2048, 24, 16, 8192),
    "xxlarge": (4096, 12, 64, 16384),
}


def _architecture(size, version):
    hidden_dim, num_layers, num_heads, intermediate_dim = _SIZES[size]
    # v1 used dropout 0.1 except xxlarge; v2 dropped dropout everywhere.
    dropout = 0.1 if version == "v1" and size != "xxlarge" else 0.0
    return {
        "vocabulary_size": 30000,
        "num_layers": num_layers,
        "num_heads": num_heads,
        "embedding_dim": 128,
        "hidden_dim": hidden_dim,
        "intermediate_dim": intermediate_dim,
        "num_groups": 1,
        "num_inner_repetitions": 1,
        "activation": "gelu_approximate",
        "dropout": dropout,
        "attention_dropout": dropout,
        "max_sequence_length": 512,
        "num_segments": 2,
        "layer_norm_epsilon": 1e-12,
        "initializer_range": 0.02,
    }


BACKBONE_PRESETS = {
    f"albert_{size}_{version}": _architecture(size, version)
    for version in ("v1", "v2")
    for size in _SIZES
}
PRESET_NAMES = tuple(BACKBONE_PRESETS)

# Files a Keras preset directory must hold to build a backbone.
_REQUIRED_FILES = ("config.json",)
_WEIGHTS_FILE = "model.weights.h5"
# A task preset's head, loaded with the backbone's weights when present.
_TASK_WEIGHTS_FILE = "task.weights.h5"


def presets_root():
    """Where converted named presets live on this machine."""
    return os.environ.get(
        "KERAS_ALBERT_PRESETS",
        os.path.join(os.path.expanduser("~"), ".keras_albert", "presets"),
    )


def check_weights_file(path):
    """Raises a `ValueError` naming a `.weights.h5` file that is truncated or corrupt.

    Opening an HDF5 file compares its size with the size its header
    records, so a partly copied or partly written file is caught here,
    before h5py's error (which names no file) from inside Keras.
    """
    import h5py

    try:
        with h5py.File(path, "r"):
            pass
    except OSError as error:
        raise ValueError(
            f"Weights file {path} is truncated or corrupt ({error}); copy or write it again."
        ) from None


def check_preset_dir(path, load_weights=True):
    """Raises a `ValueError` naming what a preset directory is missing, or a
    weights file of it that is truncated or corrupt."""
    required = _REQUIRED_FILES + ((_WEIGHTS_FILE,) if load_weights else ())
    missing = [name for name in required if not os.path.exists(os.path.join(path, name))]
    if not missing:
        if load_weights:
            for name in (_WEIGHTS_FILE, _TASK_WEIGHTS_FILE):
                if os.path.exists(os.path.join(path, name)):
                    check_weights_file(os.path.join(path, name))
        return
    sharded = os.path.exists(os.path.join(path, "model.weights.json"))
    if missing == [_WEIGHTS_FILE] and sharded:
        return
    raise ValueError(
        f"Preset directory {path!r} is missing {', '.join(missing)}. A preset "
        "is written by `save_to_preset()` or `python -m keras_albert.convert`"
        + ("; pass `load_weights=False` to build it without weights." if missing == [_WEIGHTS_FILE] else ".")
    )


def resolve_preset(preset, load_weights=True):
    """Turns a preset name or directory into something loadable.

    Returns a local directory path, or, for a known name that has no
    converted copy and `load_weights=False`, the architecture's config dict.
    Raises a `ValueError` in every other case; nothing is downloaded.
    """
    if not isinstance(preset, (str, os.PathLike)):
        raise ValueError(f"`preset` must be a name or a directory path. Received: {preset!r}")
    preset = os.fspath(preset)
    if "://" in preset:
        raise ValueError(
            f"Cannot load preset {preset!r}: keras-albert never downloads. "
            "Convert the checkpoint to a local directory with `python -m "
            "keras_albert.convert` and pass that directory."
        )
    if os.path.isdir(preset):
        check_preset_dir(preset, load_weights)
        return preset
    if preset in BACKBONE_PRESETS:
        local = os.path.join(presets_root(), preset)
        if os.path.isdir(local):
            check_preset_dir(local, load_weights)
            return local
        if not load_weights:
            return dict(BACKBONE_PRESETS[preset])
        raise ValueError(
            f"Preset {preset!r} has no weights on this machine (looked in "
            f"{local!r}). Convert the original checkpoint first, e.g. "
            f"`python -m keras_albert.convert --source tf1 --input "
            f"/path/to/{preset} --output {local}`, or pass "
            "`load_weights=False` for the architecture with fresh weights."
        )
    raise ValueError(
        f"Unknown preset {preset!r}: it is neither a directory nor one of "
        f"{', '.join(PRESET_NAMES)}."
    )


def resolve_tokenizer_preset(preset):
    """The local directory holding a preset's tokenizer: `preset` itself, or a
    named preset's converted copy. Raises a `ValueError` otherwise; nothing is
    downloaded (keras-hub's own `from_preset` would try Kaggle or Hugging Face)."""
    if isinstance(preset, (str, os.PathLike)) and os.path.isdir(os.fspath(preset)):
        return os.fspath(preset)
    resolved = resolve_preset(preset, load_weights=False)
    if isinstance(resolved, dict):
        raise ValueError(
            f"Preset {preset!r} has no converted copy on this machine (looked in "
            f"{os.path.join(presets_root(), preset)!r}), and its tokenizer comes with it. Convert the original "
            f"checkpoint first, e.g. `python -m keras_albert.convert --source tf1 --input /path/to/{preset} "
            f"--output {os.path.join(presets_root(), preset)}`."
        )
    return resolved
