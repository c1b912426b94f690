"""Videos inside tar archives (the community mirrors' shards: `.tar`, `.tar.gz`, `.tgz`), read
where they lie: a member's bytes are read into memory once per use, never unpacked to disk.

Each process keeps its archives open, so members read in the archive's order (as `avsl prepare`
hands them out) move forward through a compressed stream instead of decompressing it again
from the start for every member."""

from __future__ import annotations

import functools
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from avsl.errors import AvslError

ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz")


def is_archive(path: Path) -> bool:
    return path.name.lower().endswith(ARCHIVE_SUFFIXES)


@dataclass(frozen=True)
class ArchiveMember:
    """One file of an archive, standing in for a video's path (`stem`, `suffix`, `str`)."""

    archive: Path
    member: str

    @property
    def stem(self) -> str:
        return PurePosixPath(self.member).stem

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.member).suffix

    def __str__(self) -> str:
        return f"{self.archive}:{self.member}"

    def read(self) -> bytes:
        return _member_bytes(self.archive, self.member)


def archive_members(archive: Path, suffixes: tuple[str, ...]) -> list[ArchiveMember]:
    """The archive's regular files with one of `suffixes`, in the archive's order."""
    try:
        names = [m.name for m in _open(archive, os.getpid()).getmembers() if m.isfile()]
    except (tarfile.TarError, OSError, EOFError) as err:
        raise AvslError(f"{archive}: not a readable tar archive ({err})") from None
    return [ArchiveMember(archive, name) for name in names if PurePosixPath(name).suffix.lower() in suffixes]


@functools.lru_cache(maxsize=8)
def _open(archive: Path, process: int) -> tarfile.TarFile:
    """The archive, opened once per process: a worker forked after the parent opened it gets
    its own file (a shared one would share its read position too)."""
    return tarfile.open(archive)  # noqa: SIM115 - kept open for this process's later members


@functools.lru_cache(maxsize=1)  # one video's three reads (probe, frames, audio) share one copy
def _member_bytes(archive: Path, member: str) -> bytes:
    try:
        stream = _open(archive, os.getpid()).extractfile(member)
        if stream is None:
            raise AvslError(f"{archive}:{member}: not a regular file")
        return stream.read()
    except (tarfile.TarError, OSError, EOFError, KeyError) as err:
        raise AvslError(f"{archive}:{member}: cannot read from the archive ({err})") from None
