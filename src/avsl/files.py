"""Atomic file writes: a reader never sees a half-written result, even after a crash."""

from __future__ import annotations

import errno
import glob
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, BinaryIO

from avsl.errors import AvslError

TEMP_SUFFIX = ".tmp"  # atomic_write's partial files: ".<name>.<random>.tmp" beside the target
# The folders `writable_dir` created during the current command (see `created_folders_removed_on_failure`).
_CREATED_FOLDERS: ContextVar[list[Path] | None] = ContextVar("created_folders", default=None)


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
    missing = [folder for folder in (path, *path.parents) if not folder.exists()]
    try:
        path.mkdir(parents=True, exist_ok=True)
        created = _CREATED_FOLDERS.get()
        if created is not None:
            created.extend(reversed(missing))  # outermost first
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        raise AvslError(f"{path}: {what} is not writable ({_os_reason(err)})") from None
    return path


@contextmanager
def created_folders_removed_on_failure() -> Iterator[None]:
    """Run a command so that the output folders it created are removed again, when still empty,
    if it fails: a refused command leaves no trace for the user to wonder about."""
    created: list[Path] = []
    token = _CREATED_FOLDERS.set(created)
    try:
        yield
    except BaseException:
        for folder in reversed(created):  # innermost first
            try:
                folder.rmdir()  # only an empty folder goes
            except OSError:
                pass
        raise
    finally:
        _CREATED_FOLDERS.reset(token)


def same_file(first: Path, second: Path) -> bool:
    """Whether two paths name one existing file: the same resolved path, or the same inode
    reached through a hard link or a symlink."""
    try:
        return os.path.samefile(first, second)
    except OSError:  # one of them does not exist (yet)
        return False


def refuse_overwriting_inputs(output: Path, inputs: Iterable[Path | None], what: str = "output") -> None:
    """AvslError when `output` is one of the command's `inputs`: writing it would destroy the
    input the command is reading."""
    for source in inputs:
        if source is not None and same_file(output, source):
            raise AvslError(f"{output}: the {what} would replace the input {source}; choose another path")


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
