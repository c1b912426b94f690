"""The one exception type for problems a user can cause and fix (bad files, values, options).

The CLI turns it into a single line on stderr and exit status 2; anything else is a bug and
keeps its traceback.
"""


class AvslError(Exception):
    """A user-facing error; its message names the file or value and the problem."""


def first_line(err: Exception, default: str | None = None) -> str:
    """An exception's first non-empty line, for one-line messages (else `default`, else its type)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if lines:
        return lines[0]
    return type(err).__name__ if default is None else default
