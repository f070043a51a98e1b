"""File helpers of the converters: JSON reading and all-or-nothing output."""

import contextlib
import json
import os
import shutil
import uuid

from keras_albert.durable_files import replace_durably


def read_json(path):
    """The parsed JSON file, or a `ValueError` naming it."""
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    # ValueError: invalid JSON, or bytes that are not UTF-8.
    except (OSError, ValueError) as error:
        raise ValueError(f"Could not read JSON file {path}: {error}") from error


@contextlib.contextmanager
def staging_directory(output_dir, overwrite=False):
    """Yields a temporary directory that replaces `output_dir` on success.

    The temporary directory sits next to `output_dir` (same filesystem, so
    the final move is a rename) and is deleted if the body raises: a
    conversion never leaves a half-written output behind.
    """
    output_dir = os.path.abspath(os.fspath(output_dir))
    if os.path.isfile(output_dir):
        raise ValueError(f"Output {output_dir} is a file, not a directory.")
    if os.path.isdir(output_dir) and os.listdir(output_dir) and not overwrite:
        raise ValueError(
            f"Output directory {output_dir} exists and is not empty; pass "
            "overwrite=True (--overwrite) to replace it."
        )
    parent = os.path.dirname(output_dir)
    os.makedirs(parent, exist_ok=True)
    # `os.mkdir` (not `tempfile.mkdtemp`, which is private to the user) so
    # the final directory gets the usual permissions.
    staging = os.path.join(parent, f".{os.path.basename(output_dir)}.partial-{uuid.uuid4().hex}")
    os.mkdir(staging)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    # Durably: an operating-system crash must not leave `output_dir` naming
    # files whose data never reached the disk.
    if os.path.isdir(output_dir):
        retired = f"{staging}.old"
        os.rename(output_dir, retired)
        replace_durably(staging, output_dir)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        replace_durably(staging, output_dir)
