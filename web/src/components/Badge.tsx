// Coloured state labels: run status (process lifecycle) and trading state (risk engine).

const RUN_TONE: Record<string, string> = {
  created: "muted",
  running: "ok",
  stopping: "warn",
  finished: "info",
  stopped: "muted",
  failed: "bad",
  killed: "bad",
};

const TRADING_TONE: Record<string, string> = {
  INIT: "muted",
  READY: "ok",
  REDUCING: "warn",
  HALTED: "bad",
};

export function RunStatusBadge({ status }: { status: string }) {
  return (
    <span className={"badge " + (RUN_TONE[status] ?? "muted")} data-testid="run-status" data-value={status}>
      {status}
    </span>
  );
}

export function TradingStateBadge({ state }: { state: string | null | undefined }) {
  if (!state) return <span className="dim" data-testid="trading-state" data-value="">—</span>;
  return (
    <span className={"badge " + (TRADING_TONE[state] ?? "muted")} data-testid="trading-state" data-value={state}>
      {state}
    </span>
  );
}

export function FeedBadge({ state }: { state: string | undefined }) {
  const tone = state === "live" ? "ok" : state === "stale" || state === "reconnecting" ? "warn" : "bad";
  return <span className={"dot " + tone} title={state} />;
}
