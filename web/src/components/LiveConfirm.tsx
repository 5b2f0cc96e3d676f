// The confirmation before a live run starts. A live run sends real orders with real
// money on the venue's account (or its testnet): starting one must never be one click,
// and the dialog says which venue, symbols and account before it does.

import { useState } from "react";

interface Props {
  title: string;
  venue: string;
  symbols: string[];
  testnet: boolean;
  busy: boolean;
  error?: string | null;
  onCancel: () => void;
  onConfirm: () => void;
}

export function LiveConfirm({ title, venue, symbols, testnet, busy, error, onCancel, onConfirm }: Props) {
  const [understood, setUnderstood] = useState(false);
  return (
    <div className="modal-backdrop" onClick={busy ? undefined : onCancel}>
      <div
        className="modal"
        role="dialog"
        aria-modal="true"
        aria-labelledby="live-title"
        data-testid="live-confirm-dialog"
        onClick={(e) => e.stopPropagation()}
      >
        <h3 id="live-title">Start live run {title}?</h3>
        <p className="live-warning" data-testid="live-warning">
          {testnet
            ? `This run trades on the ${venue} testnet account: real orders on the venue, with test money.`
            : `This run trades REAL MONEY on your ${venue} account: its orders are sent to the venue as they are.`}
        </p>
        <p className="dim">
          Symbols: <span className="mono">{symbols.join(", ") || "—"}</span>. The risk limits of its risk file apply;
          Kill halts it at once.
        </p>
        <label className="check">
          <input type="checkbox" checked={understood} onChange={(e) => setUnderstood(e.target.checked)} data-testid="live-understood" />
          {testnet ? "I want to trade on the testnet account" : "I understand this trades real money"}
        </label>
        {error && <div className="error" data-testid="live-confirm-error">{error}</div>}
        <div className="actions">
          <button onClick={onCancel} disabled={busy} data-testid="live-cancel">
            Cancel
          </button>
          <button className="danger" onClick={onConfirm} disabled={busy || !understood} data-testid="live-confirm">
            {busy ? "Starting…" : "Start live run"}
          </button>
        </div>
      </div>
    </div>
  );
}
