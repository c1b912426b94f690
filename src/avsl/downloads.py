"""Files fetched over HTTP(S): resumed where a cut left them, retried with back-off on faults
that may pass, checked against a SHA-256 when one is known, and renamed into place only when
whole, so a file that looks complete is complete. Checkpoints are cached under $AVSL_HOME
(default ~/.cache/avsl, as torch.hub and Hugging Face keep theirs): the second load makes no
request."""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from avsl.errors import AvslError
from avsl.progress import progress

HOME_VARIABLE = "AVSL_HOME"
DEFAULT_HOME = "~/.cache/avsl"
PART_SUFFIX = ".part"  # a download in progress: resumed by the next attempt, never loaded
ATTEMPTS = 4
TIMEOUT_S = 30.0  # with no byte for this long, a connection counts as stalled
BACKOFF_S = 1.0  # waits 1, 2, 4 s between attempts
CHUNK = 1 << 20
# Answers that another attempt will not change: the file is not there, or not for us.
PERMANENT_STATUS = frozenset({400, 401, 403, 404, 405, 410, 451})
USER_AGENT = "avsl (https://pypi.org/project/avsl)"


def cache_home() -> Path:
    """Where avsl keeps what it downloads ($AVSL_HOME, default ~/.cache/avsl)."""
    return Path(os.environ.get(HOME_VARIABLE) or DEFAULT_HOME).expanduser()


def is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def cached_file(url: str, sha256: str | None = None, folder: str = "checkpoints") -> Path:
    """The file at `url`, from the cache when it is there (no request), else downloaded once."""
    name = Path(urllib.parse.urlparse(url).path).name or "download"
    target = cache_home() / folder / f"{hashlib.sha256(url.encode()).hexdigest()[:16]}-{name}"
    if target.is_file():
        if sha256 is not None:
            check_sha256(target, sha256, url)
        return target
    return download(url, target, sha256)


def download(
    url: str,
    target: Path,
    sha256: str | None = None,
    attempts: int | None = None,
    timeout: float | None = None,
    backoff: float | None = None,
) -> Path:
    """Fetch `url` into `target` (through `target.part`, resumed by HTTP range requests).

    Faults that may pass (a refused or reset connection, a stall, a cut body, a 5xx or 429
    answer) are retried `attempts` times in all, waiting `backoff` x 1, 2, 4 ... s; a 404 or
    another permanent answer is not. AvslError names the URL and the reason. Unset settings
    take the module's ATTEMPTS, TIMEOUT_S and BACKOFF_S (read at each call).
    """
    attempts = ATTEMPTS if attempts is None else attempts
    timeout = TIMEOUT_S if timeout is None else timeout
    backoff = BACKOFF_S if backoff is None else backoff
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + PART_SUFFIX)
    reason = "no attempt"
    for attempt in range(attempts):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            _fetch(url, part, timeout)
            break
        except _Transient as err:
            reason = str(err)
    else:
        raise AvslError(f"{url}: download failed after {attempts} attempts ({reason}); run again to resume")
    if sha256 is not None:
        check_sha256(part, sha256, url)
    os.replace(part, target)
    return target


def check_sha256(path: Path, expected: str, url: str) -> None:
    """Refuse (and remove) a file whose SHA-256 is not `expected`."""
    expected = expected.lower()
    if not re.fullmatch(r"[0-9a-f]{64}", expected):
        raise AvslError(f"--sha256 {expected!r}: not a SHA-256 (64 hexadecimal digits)")
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(CHUNK), b""):
            digest.update(block)
    if digest.hexdigest() != expected:
        path.unlink(missing_ok=True)
        raise AvslError(f"{url}: SHA-256 {digest.hexdigest()} is not the expected {expected}; the file was removed")


class _Transient(Exception):
    """A fault another attempt may not meet."""


def _fetch(url: str, part: Path, timeout: float) -> None:
    """One attempt: continue `part` from its size (or start it again when the server ignores
    the range), and raise _Transient when the body ends short or the connection fails."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(
        url, headers={"User-Agent": USER_AGENT, **({"Range": f"bytes={have}-"} if have else {})}
    )
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - http(s) only (is_url)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # nothing left to send: the part is whole, or stale
            part.unlink()
            raise _Transient("the partial file did not match the server's; starting again") from None
        if err.code in PERMANENT_STATUS:
            raise AvslError(f"{url}: HTTP {err.code} {err.reason}") from None
        raise _Transient(f"HTTP {err.code} {err.reason}") from None
    except urllib.error.URLError as err:
        if isinstance(err.reason, socket.gaierror):
            raise AvslError(f"{url}: the host name cannot be resolved ({err.reason.strerror})") from None
        raise _Transient(f"{err.reason}") from None
    except (TimeoutError, ConnectionError, http.client.HTTPException) as err:
        raise _Transient(f"{type(err).__name__}: {err}") from None
    with response:
        resumed = response.status == 206
        length = response.headers.get("Content-Length")
        total = (have if resumed else 0) + int(length) if length and length.isdigit() else None
        mode = "ab" if resumed else "wb"
        try:
            with part.open(mode) as stream, progress(total, Path(part.name).stem, "B", initial=have if resumed else 0,
                                                     unit_scale=True) as bar:  # fmt: skip
                for block in iter(lambda: response.read(CHUNK), b""):
                    stream.write(block)
                    bar.update(len(block))
        except (TimeoutError, ConnectionError, http.client.HTTPException) as err:
            raise _Transient(f"the connection broke off ({type(err).__name__})") from None
        except OSError as err:  # a full disk: the part stays for a later run
            raise AvslError(f"{part}: cannot write ({err.strerror})") from None
    if total is not None and part.stat().st_size < total:
        raise _Transient(f"the body ended at {part.stat().st_size} of {total} bytes")
