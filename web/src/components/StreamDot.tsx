// The live-stream indicator: is the page following the server right now?
import type { StreamState } from "../sse";

export function StreamDot({ state }: { state: StreamState }) {
  const tone = state === "live" ? "ok" : state === "connecting" ? "muted" : "warn";
  return (
    <span className="stream" data-testid="stream-state" data-value={state}>
      <span className={"dot " + tone} />
      {state}
    </span>
  );
}
