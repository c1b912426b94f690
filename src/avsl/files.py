"""Atomic file writes: a reader never sees a half-written result, even after a crash."""

from __future__ import annotations

import errno
import glob
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, BinaryIO

from avsl.errors import AvslError

TEMP_SUFFIX = ".tmp"  # atomic_write's partial files: ".<name>.<random>.tmp" beside the target


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Call `write` on a temporary file beside `path`, fsync it, then rename it over `path`.

    The file gets the mode the umask gives new files (mkstemp's own 0600 would hide results
    from the rest of a group). A full disk or a permission problem is an AvslError naming the
    file: the user can fix it, and the previous version of `path` is left untouched.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    except OSError as err:
        raise AvslError(f"{path}: cannot write ({_os_reason(err)})") from None
    try:
        with os.fdopen(handle, "wb") as stream:
            os.fchmod(stream.fileno(), 0o666 & ~current_umask())
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, path)
    except OSError as err:
        Path(temp).unlink(missing_ok=True)
        raise AvslError(f"{path}: cannot write ({_os_reason(err)})") from None
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def remove_temporary_files(folder: Path, names: Iterable[str]) -> list[Path]:
    """Delete the partial files `atomic_write` left for `names` when a process was killed
    mid-write (only those names: the folder may hold the user's own files)."""
    removed = []
    for name in names:
        for temp in Path(folder).glob(f".{glob.escape(name)}.*{TEMP_SUFFIX}"):
            if temp.is_file():
                temp.unlink(missing_ok=True)
                removed.append(temp)
    return removed


def writable_dir(path: Path, what: str = "output folder") -> Path:
    """Create `path` if needed and prove a file can be written there, before any work is done:
    an unwritable output discovered after an hour of evaluation costs the hour."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise AvslError(f"{path}: {what} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        raise AvslError(f"{path}: {what} is not writable ({_os_reason(err)})") from None
    return path


def current_umask() -> int:
    """The process umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _os_reason(err: OSError) -> str:
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return "no space left on the device"
    return err.strerror or type(err).__name__


def write_json(path: Path, data: Any) -> None:
    """Pretty JSON, written atomically; NaN becomes null so every JSON reader accepts it."""
    text = json.dumps(nan_to_none(data), indent=2, sort_keys=False) + "\n"
    atomic_write(path, lambda stream: stream.write(text.encode()))


def nan_to_none(value: Any) -> Any:
    """NaN (and inf) floats -> None, in nested dicts and lists: strict JSON has neither."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: nan_to_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [nan_to_none(v) for v in value]
    return value
