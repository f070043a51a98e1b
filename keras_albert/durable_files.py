"""Durable, atomic file replacement: what survives a crash of the machine.

A rename alone is atomic but not durable: after an operating-system crash
or power loss the new name may point at a file whose data never reached
the disk (an empty checkpoint), or the rename itself may be lost. So the
new file's data is flushed (`fsync`) before the rename, and the directory
holding both names is flushed after it. Checkpoints and presets are
written through these functions.
"""

import os


def fsync_file(path):
    """Flushes a file's data and metadata to the disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def fsync_directory(path):
    """Flushes a directory's entries (creations, renames) to the disk.

    A no-op where directories cannot be opened (Windows).
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except (PermissionError, IsADirectoryError):
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def fsync_tree(path):
    """Flushes every file and directory under `path` (and `path` itself)."""
    for directory, _, file_names in os.walk(path):
        for file_name in file_names:
            fsync_file(os.path.join(directory, file_name))
        fsync_directory(directory)


def replace_durably(temporary, final):
    """Renames the written file or directory `temporary` to `final` (replacing a
    file there), flushing its data before and the parent directory after."""
    if os.path.isdir(temporary):
        fsync_tree(temporary)
    else:
        fsync_file(temporary)
    os.replace(temporary, final)
    fsync_directory(os.path.dirname(os.path.abspath(final)))
