"""The one exception type for problems a user can cause and fix (bad files, values, options).

The CLI turns it into a single line on stderr and exit status 2; anything else is a bug and
keeps its traceback.
"""


class AvslError(Exception):
    """A user-facing error; its message names the file or value and the problem."""
