// Kill confirmation. Killing moves a paper/live run to HALTED (no new risk), optionally
// flattening its positions first; a backtest is terminated. It must never be one click.

import { useState } from "react";
import { api, ApiError } from "../api";
import type { RunRecord } from "../types";

interface Props {
  run: RunRecord;
  onClose: () => void;
  onDone: (run: RunRecord) => void;
}

export function KillDialog({ run, onClose, onDone }: Props) {
  const [flatten, setFlatten] = useState(false);
  const [reason, setReason] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const trading = run.kind !== "backtest";

  const confirm = async () => {
    setBusy(true);
    setError(null);
    try {
      const done = await api.killRun(run.run_id, { flatten, reason: reason.trim() || "killed from the dashboard" });
      onDone(done);
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
      setBusy(false);
    }
  };

  return (
    <div className="modal-backdrop" onClick={onClose}>
      <div
        className="modal"
        role="dialog"
        aria-modal="true"
        aria-labelledby="kill-title"
        data-testid="kill-dialog"
        onClick={(e) => e.stopPropagation()}
      >
        <h3 id="kill-title">Kill {run.name || run.run_id}?</h3>
        <p className="dim">
          {trading
            ? "The run stops taking new risk at once (trading state HALTED) and stays halted until resumed. This is recorded in its audit log."
            : "The backtest process is terminated."}
        </p>
        {trading && (
          <label className="check">
            <input
              type="checkbox"
              checked={flatten}
              onChange={(e) => setFlatten(e.target.checked)}
              data-testid="kill-flatten"
            />
            flatten positions first (reduce-only market orders)
          </label>
        )}
        <label className="field">
          <span>reason</span>
          <input
            value={reason}
            onChange={(e) => setReason(e.target.value)}
            placeholder="why (kept in the audit log)"
            data-testid="kill-reason"
          />
        </label>
        {error && <div className="error" data-testid="kill-error">{error}</div>}
        <div className="actions">
          <button onClick={onClose} data-testid="kill-cancel" disabled={busy}>
            Cancel
          </button>
          <button className="danger" onClick={confirm} data-testid="kill-confirm" disabled={busy} autoFocus>
            {busy ? "Killing…" : flatten ? "Flatten and kill" : "Kill"}
          </button>
        </div>
      </div>
    </div>
  );
}

/** Runs that can still be killed: a process is (or may soon be) working. */
export function killable(run: RunRecord): boolean {
  return run.status === "running" || run.status === "stopping";
}
