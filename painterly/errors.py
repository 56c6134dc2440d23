"""The one exception type a user of painterly ever needs to catch."""


class PainterlyError(Exception):
    """A problem the user can fix: the message is one line naming it and what to do.

    The CLI prints the message (no traceback) and exits with status 2.
    """
