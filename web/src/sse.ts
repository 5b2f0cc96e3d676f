// Live events from heron serve (Server-Sent Events), reconnecting by itself.
//
// EventSource resends the last `id:` it saw as a Last-Event-ID header when the browser
// reconnects on its own (a dropped connection). When it gives up (the server answered an
// error or was down), we open a new one after a back-off and pass the id as
// `?last_event_id=`, so the server resumes right after the last record we received.
// Records already seen (by run and seq) are dropped in case a resume overlaps: the event
// log must never show one twice.
//
// Records arrive in bursts (a backtest can write thousands a second); they are handed to
// the page in batches, a few times a second, so React renders once per batch.

import { useEffect, useRef, useState } from "react";
import { streamUrl } from "./api";
import type { JournalEvent, RunRecord, RunStatusDoc } from "./types";

export type StreamState = "connecting" | "live" | "reconnecting";

export interface StreamHandlers {
  records?: (batch: JournalEvent[]) => void;
  status?: (status: RunStatusDoc) => void;
  run?: (run: RunRecord) => void;
}

const FLUSH_MS = 150;
const MAX_BACKOFF_MS = 8000;

/** Follows `/api/stream` (runId null) or `/api/runs/{runId}/stream`. */
export function useEventStream(runId: string | null, handlers: StreamHandlers, enabled = true): StreamState {
  const [state, setState] = useState<StreamState>("connecting");
  const ref = useRef(handlers);
  ref.current = handlers;

  useEffect(() => {
    if (!enabled) return;
    const follower = new StreamFollower(runId, ref, setState);
    follower.connect();
    return () => follower.close();
  }, [runId, enabled]);

  return state;
}

class StreamFollower {
  private source: EventSource | null = null;
  private lastId: string | null = null;
  private seen = new Map<string, number>(); // run_id -> last seq delivered
  private pending: JournalEvent[] = [];
  private flushTimer: number | null = null;
  private retryTimer: number | null = null;
  private failures = 0;
  private closed = false;

  constructor(
    private readonly runId: string | null,
    private readonly handlers: { current: StreamHandlers },
    private readonly setState: (s: StreamState) => void,
  ) {}

  connect(): void {
    if (this.closed) return;
    const es = new EventSource(streamUrl(this.runId, this.lastId));
    this.source = es;
    es.onopen = () => {
      this.failures = 0;
      this.setState("live");
    };
    es.onerror = () => this.onError(es);
    es.addEventListener("record", (e) => this.onRecord(e as MessageEvent<string>));
    es.addEventListener("status", (e) => {
      const doc = statusDoc(parse<Record<string, unknown>>((e as MessageEvent<string>).data));
      if (doc) this.handlers.current.status?.(doc);
    });
    es.addEventListener("run", (e) => {
      const run = parse<RunRecord>((e as MessageEvent<string>).data);
      if (run) this.handlers.current.run?.(run);
    });
  }

  close(): void {
    this.closed = true;
    this.source?.close();
    if (this.flushTimer !== null) window.clearTimeout(this.flushTimer);
    if (this.retryTimer !== null) window.clearTimeout(this.retryTimer);
  }

  private onRecord(e: MessageEvent<string>): void {
    if (e.lastEventId) this.lastId = e.lastEventId;
    const ev = parse<JournalEvent>(e.data);
    if (!ev) return;
    const key = ev.run_id ?? this.runId ?? "";
    const last = this.seen.get(key) ?? 0;
    if (typeof ev.seq === "number") {
      if (ev.seq <= last) return; // an overlapping resume: already delivered
      this.seen.set(key, ev.seq);
    }
    this.pending.push(ev);
    if (this.flushTimer === null) {
      this.flushTimer = window.setTimeout(() => this.flush(), FLUSH_MS);
    }
  }

  private flush(): void {
    this.flushTimer = null;
    const batch = this.pending;
    this.pending = [];
    if (batch.length) this.handlers.current.records?.(batch);
  }

  private onError(es: EventSource): void {
    if (this.closed) return;
    if (es.readyState !== EventSource.CLOSED) {
      this.setState("reconnecting"); // the browser retries with Last-Event-ID itself
      return;
    }
    // The browser gave up (an HTTP error, or the server is down): retry ourselves.
    es.close();
    this.setState("reconnecting");
    this.failures += 1;
    const wait = Math.min(MAX_BACKOFF_MS, 500 * 2 ** Math.min(this.failures, 5));
    this.retryTimer = window.setTimeout(() => this.connect(), wait);
  }
}

/** status.json, flat or wrapped as {run_id, status: {...}}, with the run id on it. */
function statusDoc(data: Record<string, unknown> | null): RunStatusDoc | null {
  if (!data) return null;
  const inner = data.status;
  if (inner && typeof inner === "object" && !("trading_state" in data)) {
    return { ...(inner as RunStatusDoc), run_id: data.run_id as string | undefined };
  }
  return data as RunStatusDoc;
}

function parse<T>(text: string): T | null {
  try {
    return JSON.parse(text) as T;
  } catch {
    return null;
  }
}
