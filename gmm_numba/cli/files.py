"""Output paths: checked before any work starts, written without leaving half-written files."""

import os

from .errors import UserError


def check_new_file(path, overwrite, what="output"):
    """Refuse a path that exists (unless ``overwrite``), is a folder, or lies in a missing or read-only folder."""
    if os.path.isdir(path):
        raise UserError(f"{path} is a folder; give a file name for the {what}")
    if os.path.exists(path) and not overwrite:
        raise UserError(f"{path} exists; pass --overwrite to replace it")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UserError(f"{path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise UserError(f"{path}: cannot write into {folder}")


def check_folder(folder, files, overwrite):
    """A folder that may be created, and whose ``files`` may be written."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise UserError(f"{folder} exists and is not a folder")
    if os.path.isdir(folder):
        if not os.access(folder, os.W_OK):
            raise UserError(f"cannot write into {folder}")
        taken = [name for name in files if os.path.exists(os.path.join(folder, name))]
        if taken and not overwrite:
            raise UserError(
                f"{folder} already holds {', '.join(taken)}; pass --overwrite to replace, or choose another folder"
            )
    else:
        parent = os.path.dirname(os.path.abspath(folder))
        while not os.path.exists(parent):
            parent = os.path.dirname(parent)
        if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
            raise UserError(f"cannot create the folder {folder}: {parent} is not writable")


def check_suffix(path, suffixes, what):
    if not path.lower().endswith(suffixes):
        raise UserError(f"{path}: {what}: give a name ending in {' or '.join(suffixes)}")


def write(path, writer, overwrite):
    """Write through a temporary file in the same folder, then move it into place.

    A failure or an interruption leaves no half-written file behind.
    """
    if os.path.exists(path) and not overwrite:  # it may have appeared while we worked
        raise UserError(f"{path} exists; pass --overwrite to replace it")
    folder, name = os.path.split(os.path.abspath(path))
    stem, suffix = os.path.splitext(name)
    temporary = os.path.join(folder, f".{stem}.{os.getpid()}.partial{suffix}")
    try:
        writer(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    print(f"Wrote {path}")
