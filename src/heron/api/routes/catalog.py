"""Market data a run can use: the catalog's series, and the bar files under ``ROOT/data``
that a backtest config's ``data`` key can name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from heron.api.auth import Viewer
from heron.api.pages import Paging, page_of
from heron.api.schemas import CatalogEntryOut, DataFileOut, Page
from heron.api.state import api_state

router = APIRouter(tags=["data"])
#: what the bar readers take (heron.data.bar_formats), compressed or not
BAR_SUFFIXES = (".csv", ".csv.gz", ".csv.zip", ".zip", ".json", ".json.gz", ".feather",
                ".parquet")
BAR_COLUMNS = {"close", "c"}
MAX_FILES = 5000


def catalog_entries(root: Path | None) -> list[dict[str, Any]]:
    from heron.data.catalog import Catalog

    catalog = Catalog(root)
    if not catalog.root.is_dir():
        return []
    return [msgspec.to_builtins(e) for e in catalog.entries()]


def _is_bars(path: Path) -> bool:
    """Bar-shaped: any file the readers take, but a Parquet file only with a close column
    (the catalog's trade and quote captures are Parquet too)."""
    name = path.name.lower()
    if not name.endswith(BAR_SUFFIXES):
        return False
    if not name.endswith(".parquet"):
        return True
    try:
        import pyarrow.parquet as pq

        names = {n.lower() for n in pq.read_schema(path).names}
    except (OSError, ValueError):
        return False
    return bool(names & BAR_COLUMNS)


def data_files(root: Path) -> list[dict[str, Any]]:
    folder = root / "data"
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.rglob("*"))[:MAX_FILES]:
        if path.is_file() and _is_bars(path):
            stat = path.stat()
            found.append({"path": str(path.relative_to(root)), "name": path.name,
                          "bytes": stat.st_size, "modified_at": stat.st_mtime_ns})
    return found


@router.get("/api/catalog", response_model=Page[CatalogEntryOut],
            summary="Series in the market-data catalog")
async def catalog(request: Request, _caller: Viewer, page: Paging) -> dict[str, Any]:
    root = api_state(request).settings.catalog
    return page_of(await run_in_threadpool(catalog_entries, root), page)


@router.get("/api/data-files", response_model=Page[DataFileOut],
            summary="Bar files under ROOT/data a backtest can read")
async def list_data_files(request: Request, _caller: Viewer, page: Paging) -> dict[str, Any]:
    root = api_state(request).settings.root
    return page_of(await run_in_threadpool(data_files, root), page)
