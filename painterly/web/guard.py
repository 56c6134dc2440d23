"""ASGI middleware in front of the studio: the access token and the upload size limit.

With a token, every request must carry it: ``Authorization: Bearer T``, ``?token=T`` (for the
page's first load, images, downloads and EventSource, which cannot send headers) or the cookie
the server sets when the page is opened with ``?token=T``. The size limit answers 413 before a
large body is read when its length is declared, and stops reading one that is not.
"""

from __future__ import annotations

import json
import secrets
from typing import Any
from urllib.parse import parse_qs

COOKIE = "painterly_token"

Scope = dict[str, Any]


class BodyTooLarge(Exception):
    """The request body went over ``--max-upload-mb`` while it was read."""


async def _answer(send: Any, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    start = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": start + (headers or [])})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def _cookie(scope: Scope, name: str) -> str | None:
    for part in (_header(scope, b"cookie") or "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


class TokenGuard:
    """401 for a request without the token (when the server has one)."""

    def __init__(self, app: Any, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.token is None:
            await self.app(scope, receive, send)
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        from_query = (query.get("token") or [None])[0]
        authorization = _header(scope, b"authorization") or ""
        bearer = authorization[7:].strip() if authorization.lower().startswith("bearer ") else None
        given = bearer or from_query or _cookie(scope, COOKIE)
        if not given or not secrets.compare_digest(given.encode(), self.token.encode()):
            await _answer(send, 401, "missing or wrong token; open the address `painterly serve` printed "
                                     "(it ends in ?token=...) or send Authorization: Bearer TOKEN")  # fmt: skip
            return
        if from_query and scope.get("path") == "/":
            cookie = f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/".encode()

            async def send_with_cookie(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie)]}
                await send(message)

            await self.app(scope, receive, send_with_cookie)
            return
        await self.app(scope, receive, send)


class BodyLimit:
    """413 for a request body over ``limit`` bytes."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _answer(send, 413, self.message(), [(b"connection", b"close")])
            return
        seen = 0

        async def counted() -> Any:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise BodyTooLarge(self.message())
            return message

        await self.app(scope, counted, send)

    def message(self) -> str:
        return (f"the upload is larger than the server's limit of {self.limit / 1e6:g} MB; "
                "send smaller images (or start the server with a larger --max-upload-mb)")  # fmt: skip
