// The order ticket of a running paper or live run: a manual order goes to the run's own
// risk engine like any strategy's (`POST /api/runs/{id}/orders`), and the answer is shown
// as it came: accepted (with the order's id), denied (the risk rule and its reason), or
// pending (the run took it and has not answered yet; its events will tell). Prices and
// quantities are sent as the text typed: the server checks them on the instrument's grid.

import { useState } from "react";
import { api, ApiError } from "../api";
import type { CommandReply, OrderType, PlaceOrderRequest } from "../types";

interface Props {
  runId: string;
  symbols: string[];
  /** the run answered (accepted or denied): its tables will change */
  onAnswered?: () => void;
}

type Outcome = "accepted" | "denied" | "pending" | "error";

interface Result {
  outcome: Outcome;
  text: string;
  /** the order it was about, when known */
  orderId?: string;
}

const TONE: Record<Outcome, string> = { accepted: "ok", denied: "bad", pending: "warn", error: "bad" };

export function OrderTicket({ runId, symbols, onAnswered }: Props) {
  const [symbol, setSymbol] = useState("");
  const [side, setSide] = useState<"buy" | "sell">("buy");
  const [type, setType] = useState<OrderType>("limit");
  const [quantity, setQuantity] = useState("");
  const [price, setPrice] = useState("");
  const [trigger, setTrigger] = useState("");
  const [tif, setTif] = useState<PlaceOrderRequest["time_in_force"]>("GTC");
  const [reduceOnly, setReduceOnly] = useState(false);
  const [postOnly, setPostOnly] = useState(false);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<Result | null>(null);
  const chosen = symbol.trim() || symbols[0] || "";
  const priced = type === "limit" || type === "stop-limit";
  const triggered = type === "stop" || type === "stop-limit";

  const submit = async () => {
    const order: PlaceOrderRequest = {
      symbol: chosen, side, type, quantity: quantity.trim(), time_in_force: tif,
      post_only: priced && postOnly, reduce_only: reduceOnly,
    };
    if (priced) order.price = price.trim();
    if (triggered) order.trigger_price = trigger.trim();
    setBusy(true);
    setResult(null);
    try {
      setResult(answered(await api.placeOrder(runId, order)));
      onAnswered?.();
    } catch (e) {
      setResult(refused(e));
    } finally {
      setBusy(false);
    }
  };

  const ready = chosen && quantity.trim() && (!priced || price.trim()) && (!triggered || trigger.trim());
  return (
    <form
      className="panel form ticket"
      data-testid="order-ticket"
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <h3>order ticket <span className="dim small">checked by the run's risk engine</span></h3>
      <div className="ticket-fields">
        <label className="field">
          <span>symbol</span>
          <input list="ticket-symbols" value={symbol} placeholder={symbols[0] ?? "symbol"} onChange={(e) => setSymbol(e.target.value)} data-testid="ticket-symbol" />
          <datalist id="ticket-symbols">{symbols.map((s) => <option key={s} value={s} />)}</datalist>
        </label>
        <label className="field">
          <span>side</span>
          <select value={side} onChange={(e) => setSide(e.target.value as "buy" | "sell")} className={side === "buy" ? "pos" : "neg"} data-testid="ticket-side">
            <option value="buy">buy</option>
            <option value="sell">sell</option>
          </select>
        </label>
        <label className="field">
          <span>type</span>
          <select value={type} onChange={(e) => setType(e.target.value as OrderType)} data-testid="ticket-type">
            <option value="limit">limit</option>
            <option value="market">market</option>
            <option value="stop">stop</option>
            <option value="stop-limit">stop-limit</option>
          </select>
        </label>
        <label className="field">
          <span>quantity</span>
          <input value={quantity} inputMode="decimal" placeholder="0.001" onChange={(e) => setQuantity(e.target.value)} data-testid="ticket-quantity" />
        </label>
        {priced && (
          <label className="field">
            <span>price</span>
            <input value={price} inputMode="decimal" placeholder="limit" onChange={(e) => setPrice(e.target.value)} data-testid="ticket-price" />
          </label>
        )}
        {triggered && (
          <label className="field">
            <span>trigger</span>
            <input value={trigger} inputMode="decimal" placeholder="stop at" onChange={(e) => setTrigger(e.target.value)} data-testid="ticket-trigger" />
          </label>
        )}
        <label className="field">
          <span>time in force</span>
          <select value={tif} onChange={(e) => setTif(e.target.value as PlaceOrderRequest["time_in_force"])} data-testid="ticket-tif">
            <option value="GTC">GTC</option>
            <option value="IOC">IOC</option>
            <option value="FOK">FOK</option>
          </select>
        </label>
        <div className="ticket-checks">
          <label className="check">
            <input type="checkbox" checked={reduceOnly} onChange={(e) => setReduceOnly(e.target.checked)} data-testid="ticket-reduce-only" />
            reduce-only
          </label>
          <label className="check" title={priced ? "" : "limit orders only"}>
            <input type="checkbox" checked={priced && postOnly} disabled={!priced} onChange={(e) => setPostOnly(e.target.checked)} data-testid="ticket-post-only" />
            post-only
          </label>
        </div>
        <button type="submit" className={side === "buy" ? "primary" : "danger"} disabled={busy || !ready} data-testid="ticket-submit">
          {busy ? "Sending…" : `${side === "buy" ? "Buy" : "Sell"} ${chosen}`}
        </button>
      </div>
      {result && <ResultLine result={result} testid="ticket-result" />}
    </form>
  );
}

function answered(reply: CommandReply): Result {
  if (reply.pending) return { outcome: "pending", text: reply.message };
  const id = reply.client_order_id ? `${reply.client_order_id}: ` : "";
  return { outcome: "accepted", text: id + reply.message, orderId: reply.client_order_id ?? undefined };
}

/** A refusal: the risk engine's denial (422 with its rule), or the API's error line. */
export function refused(e: unknown): Result {
  if (!(e instanceof ApiError)) return { outcome: "error", text: String(e) };
  const rule = e.details?.rule;
  if (e.status === 422 && typeof rule === "string") return { outcome: "denied", text: `${rule}: ${e.message}` };
  return { outcome: "error", text: e.message };
}

/** Cancels one open order; the answer as the ticket shows it. */
export async function cancelOrder(runId: string, clientOrderId: string): Promise<Result> {
  try {
    const reply = await api.cancelOrder(runId, clientOrderId);
    if (reply.pending) return { outcome: "pending", text: `${clientOrderId}: ${reply.message}`, orderId: clientOrderId };
    return { outcome: "accepted", text: `cancel ${clientOrderId}: ${reply.message}`, orderId: clientOrderId };
  } catch (e) {
    return { ...refused(e), orderId: clientOrderId };
  }
}

export function ResultLine({ result, testid }: { result: Result; testid: string }) {
  return (
    <div className={"ticket-result " + TONE[result.outcome]} data-testid={testid} data-outcome={result.outcome} data-order-id={result.orderId}>
      <span className={"badge " + TONE[result.outcome]}>{result.outcome}</span> <span className="mono">{result.text}</span>
    </div>
  );
}

export type { Result as TicketResult };
