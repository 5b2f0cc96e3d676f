// Data: what the server's catalog holds, and the bar files a backtest can use.

import { useEffect, useState } from "react";
import { api, ApiError, itemsOf } from "../api";
import { DataTable } from "../components/DataTable";
import type { Row } from "../types";

export function Data() {
  const [catalog, setCatalog] = useState<Row[] | null>(null);
  const [files, setFiles] = useState<Row[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const fail = (e: unknown) => setError(e instanceof ApiError ? e.message : String(e));
    api.catalog().then((c) => setCatalog(itemsOf(c))).catch(fail);
    api.dataFiles().then((d) => setFiles(itemsOf(d) as Row[])).catch(fail);
  }, []);

  return (
    <section data-testid="data-page">
      <header className="page-head">
        <h2>Data</h2>
      </header>
      {error && <div className="error" data-testid="data-error">{error}</div>}
      <div className="panel">
        <h3>catalog <span className="dim small">{catalog?.length ?? ""}</span></h3>
        <DataTable rows={catalog ?? []} testid="catalog-table" empty={catalog ? "the catalog is empty (heron data download / import)" : "loading…"} />
      </div>
      <div className="panel">
        <h3>bar files for backtests <span className="dim small">{files?.length ?? ""}</span></h3>
        <DataTable rows={files ?? []} testid="data-files-table" empty={files ? "no bar files under data/" : "loading…"} />
      </div>
    </section>
  );
}
