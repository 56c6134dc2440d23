"""The optional parts of painterly and the one-line error a front end gives when one is missing.

``pip install painterly`` installs the library and the stylise command only; each other front
end needs an extra (``pip install 'painterly[studio]'``), so that a library user does not install
a web server, FFmpeg bindings, Ray or matplotlib. A front end imports its optional packages
through :func:`require`, which turns a missing package into a :class:`MissingExtra` (a
:class:`~painterly.errors.PainterlyError`, so the command line prints one line and exits 2), and
calls it before any work starts, so that nothing is computed for a run that cannot finish.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from painterly.errors import PainterlyError

__all__ = ["EXTRAS", "MissingExtra", "install_hint", "require"]

#: Each extra and what it enables (the names in pyproject.toml's [project.optional-dependencies]).
EXTRAS: dict[str, str] = {
    "studio": "painterly serve",
    "video": "painterly video",
    "ray": "--executor ray",
    "plots": "painterly experiment's figures",
}


class MissingExtra(PainterlyError):
    """An optional package a front end needs is not installed: the message names the extra to install."""

    def __init__(self, extra: str, feature: str, detail: str = "") -> None:
        self.extra = extra
        self.feature = feature
        super().__init__(f"{feature} needs the {extra} extra: {install_hint(extra)}{detail}")


def install_hint(extra: str) -> str:
    """The command that installs ``extra``: ``pip install 'painterly[studio]'`` (quoted for the shell)."""
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}; one of {', '.join(EXTRAS)}")
    return f"pip install 'painterly[{extra}]'"


def require(extra: str, module: str, feature: str | None = None) -> ModuleType:
    """Import ``module`` (installed by ``extra``) and return it, or raise :class:`MissingExtra`.

    ``feature`` is what needs it, as the user typed it (``painterly serve``, ``--executor ray``);
    the default is the extra's main front end (:data:`EXTRAS`). A package that is installed but
    fails to import (a missing system library under OpenCV, say) is reported the same way, with
    the import's own first line appended, since reinstalling the extra is the usual cure.
    """
    what = feature or EXTRAS.get(extra, extra)
    install_hint(extra)  # an unknown extra is a programming error, whether or not the import works
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name is not None and error.name != module and not module.startswith(f"{error.name}."):
            detail = f" ({module} needs {error.name}, which is missing)"  # a dependency of the package
            raise MissingExtra(extra, what, detail) from None
        raise MissingExtra(extra, what) from None
    except ImportError as error:
        first_line = (str(error).splitlines() or [type(error).__name__])[0]
        raise MissingExtra(extra, what, f" (importing {module} failed: {first_line})") from None
