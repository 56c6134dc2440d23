"""The one exception type a user of painterly ever needs to catch."""


class PainterlyError(Exception):
    """A problem the user can fix: the message is one line naming it and what to do.

    The CLI prints the message (no traceback) and exits with status 2.
    """


def describe_error(error: BaseException) -> str:
    """One line for a failure reported beside others (a run of a grid, a picture of a batch): a
    PainterlyError's message, else the exception's type and its first line."""
    lines = str(error).strip().splitlines()
    message = lines[0] if lines else ""
    if isinstance(error, PainterlyError):
        return message
    return f"{type(error).__name__}: {message}" if message else type(error).__name__
