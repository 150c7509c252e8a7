"""The ``/filter`` and ``/count`` handlers every listed resource shares.

A resource names its body model, how to find the matching documents, its sort orders
and (optionally) how to present a document; the paging, sorting and counting rules are
Prefect's and live here once. A resource whose matching gives a `Selection` is sorted,
counted and paged by SQLite (see ``_queries``); one that gives a list, in Python.

A page of a `Selection` is answered from the documents' stored JSON text, joined as it is
(or as a `StoredJson` presents it): decoding 200 stored documents only to encode them again
was most of a listing's time at 100k runs (issue 12). Stored text is what ``dumps`` wrote, so
the body is the same bytes as encoding the decoded documents.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response

from prefect_trio_client.server._db import Doc, Tx
from prefect_trio_client.server._filters import SortKeys, page, sort_docs
from prefect_trio_client.server._http import Handler, Reply, api_of, json_body, ok, validate
from prefect_trio_client.server._queries import PageBody, Selection, StoredJson, limit_of

__all__ = ["listing"]

B = TypeVar("B", bound=PageBody)


def listing(
    body_model: type[B],
    matching: Callable[[Tx, B], Selection | list[Doc]],
    sorts: Mapping[Any, SortKeys],
    default_sort: Any,
    present: Callable[[Tx, Doc], Any] | None = None,
    present_stored: StoredJson | None = None,
) -> tuple[Handler, Handler]:
    """The ``filter`` and ``count`` handlers of one resource.

    Args:
        body_model: The request body (paging, ``sort``, the filters).
        matching: The documents a body selects.
        sorts: The sort keys of each sort order the body may name.
        default_sort: The order when the body names none.
        present: Turns a stored document into its response shape (default: as stored).
        present_stored: The same from the stored JSON text, for pages SQL selects; needed
            when `present` is given, or those pages are presented by decoding every document.
    """

    async def filter_documents(request: Request) -> Response:
        api = api_of(request)
        body = validate(body_model, await json_body(request, {}))
        limit = limit_of(body.limit, api.config.default_limit)
        keys = sorts[getattr(body, "sort", None) or default_sort]

        def work(tx: Tx) -> Reply:
            selected = matching(tx, body)
            offset = body.offset or 0
            if isinstance(selected, Selection) and present_stored is not None:
                rows = selected.stored(tx, keys, offset, limit, present_stored.columns)
                return _joined(present_stored.present(tx, row) for row in rows)
            if isinstance(selected, Selection) and present is None:
                return _joined(text for text, *_ in selected.stored(tx, keys, offset, limit))
            if isinstance(selected, Selection):
                found = selected.docs(tx, keys, offset, limit)
            else:
                found = page(sort_docs(selected, keys), offset, limit)
            return ok(found if present is None else [present(tx, doc) for doc in found])

        return await api.read(work)

    async def count_documents(request: Request) -> Response:
        body = validate(body_model, await json_body(request, {}))

        def work(tx: Tx) -> Reply:
            selected = matching(tx, body)
            return ok(selected.count(tx) if isinstance(selected, Selection) else len(selected))

        return await api_of(request).read(work)

    return filter_documents, count_documents


def _joined(items: Iterable[str]) -> Reply:
    """A JSON list of items already encoded."""
    return Reply(200, encoded=f"[{','.join(items)}]")
