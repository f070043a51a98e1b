"""`.keras` model files: loading that names a damaged file, saving that leaves no half-written one.

`keras.models.load_model` reports a truncated `.keras` file as "File not
found" although the file exists; `load_model` here checks the archive
first and names the file and what is wrong with it. `save_model_durably`
(what `AlbertTask.save` does for `.keras` paths) writes to a temporary
name beside the file, flushes it and renames it, so a killed save leaves
the previous file or none.
"""

import os
import zipfile

import keras

from keras_albert.durable_files import replace_durably

KERAS_SUFFIX = ".keras"
# The members every `.keras` archive Keras writes holds.
REQUIRED_MEMBERS = ("config.json", "metadata.json")


def check_keras_archive(path):
    """Raises `ValueError` naming `path` unless it is a complete `.keras` archive."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No such .keras file: {path}")
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{path} is truncated or not a .keras archive (no zip directory at its end); "
            "save the model again or copy the file completely."
        )
    try:
        with zipfile.ZipFile(path) as archive:
            missing = [name for name in REQUIRED_MEMBERS if name not in archive.namelist()]
            damaged = archive.testzip()  # Reads every member, checking its CRC.
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise ValueError(f"{path} is truncated or not a .keras archive: {error}") from None
    if missing:
        raise ValueError(f"{path} is not a .keras archive: it lacks {', '.join(missing)}.")
    if damaged:
        raise ValueError(f"{path} is corrupt: its member {damaged} fails its checksum.")


def load_model(path, **kwargs):
    """`keras.models.load_model(path, **kwargs)`, checking a `.keras` file first
    (`check_keras_archive`), so that a damaged one is named as such."""
    path = os.fspath(path)
    if path.endswith(KERAS_SUFFIX):
        check_keras_archive(path)
    return keras.models.load_model(path, **kwargs)


def save_model_durably(save, path):
    """Calls `save(temporary_path)`, then renames the flushed file to `path`.

    The temporary file is `.<name>.tmp-<pid>.keras` beside `path` (Keras
    wants the suffix), removed if the save fails.
    """
    directory, name = os.path.split(os.path.abspath(path))
    temporary = os.path.join(directory, f".{name[: -len(KERAS_SUFFIX)]}.tmp-{os.getpid()}{KERAS_SUFFIX}")
    try:
        save(temporary)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    replace_durably(temporary, path)
