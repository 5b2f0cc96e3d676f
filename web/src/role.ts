// Who the page acts as (`GET /api/me`), asked once per page load and shared: the forms
// that change things (new run, order ticket, cancel) are hidden from a viewer token. The
// server enforces the roles on every route anyway; hiding only spares a 403.

import { useEffect, useState } from "react";
import { api } from "./api";
import type { Me } from "./types";

let asked: Promise<Me> | null = null;

export function loadMe(): Promise<Me> {
  if (asked === null) {
    asked = api.me();
    asked.catch(() => {
      asked = null; // ask again next time (a server that was restarting)
    });
  }
  return asked;
}

/** The caller's role, or null until known (or when the server would not say). */
export function useRole(): string | null {
  const [role, setRole] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    loadMe()
      .then((me) => live && setRole(me.role))
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, []);
  return role;
}

/** Traders and admins may create runs and place or cancel orders. */
export function canTrade(role: string | null): boolean {
  return role === "trader" || role === "admin";
}
