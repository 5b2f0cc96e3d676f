"""Pages of a list: ``?limit=`` (1..1000, default 100) and an opaque ``?cursor=``.

A cursor is the position after the last item of the page, base64url-encoded so clients
treat it as a token and never build one by hand; what it holds depends on the list
(a run id, an index in an append-only list, a journal sequence number). A cursor that
does not decode is a 400 naming the fix, never a 500.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query

from heron.api.errors import ApiError

T = TypeVar("T")
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100


@dataclass(frozen=True)
class PageParams:
    limit: int
    cursor: str | None


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")
                     ] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=512,
                                        description="next_cursor of the previous page")
                      ] = None,
) -> PageParams:
    return PageParams(limit, cursor)


Paging = Annotated[PageParams, Depends(page_params)]
#: a list that can be read from its newest end (a long run's orders and fills: the
#: dashboard shows the newest, whatever the run's age)
NewestFirst = Annotated[bool, Query(description=(
    "newest first: the first page ends the list, each next page goes back in time"))]


def encode_cursor(position: str) -> str:
    return base64.urlsafe_b64encode(position.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The position a cursor holds; 400 when it is not one this server made."""
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_",
                               validate=True)
        text = raw.decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    if not text.isprintable() or not text:
        raise ApiError(400, "cursor is not valid; pass the next_cursor of the previous "
                       "page, or none for the first page")
    return text


def cursor_int(page: PageParams, default: int = 0) -> int:
    """A cursor that holds a non-negative integer (an index or a sequence number)."""
    if page.cursor is None:
        return default
    text = decode_cursor(page.cursor)
    if not text.isdigit() or len(text) > 19:
        raise ApiError(400, "cursor is not valid; pass the next_cursor of the previous "
                       "page, or none for the first page")
    return int(text)


def window(page: PageParams, total: int, newest_first: bool, first: int = 0
           ) -> tuple[int, int, int | None]:
    """``(start, end, next)`` of a page of an append-only list of ``total`` items whose
    oldest ``first`` are no longer held (a bounded view lets them go): the positions to
    serve (reversed when newest first) and the position the next page starts from
    (``None`` at the end). Positions count from the list's very start, so neither items
    appended nor items let go of meanwhile shift a page; newest first, a cursor holds
    the end of the next (older) slice."""
    if not newest_first:
        start = max(cursor_int(page), first)
        end = min(start + page.limit, total)
        return start, max(end, start), end if end < total else None
    end = max(min(cursor_int(page, total), total), first)
    start = max(end - page.limit, first)
    return start, end, start if start > first else None


def page_of(items: Sequence[T], page: PageParams) -> dict[str, Any]:
    """A page of an append-only list, the cursor being the index after the page."""
    start = cursor_int(page)
    end = start + page.limit
    chunk = list(items[start:end])
    return {"items": chunk, "next_cursor": encode_cursor(str(end)) if end < len(items)
            else None}
