// One EventSource per tab on GET /api/events. Pages subscribe to event types; after a
// reconnect, or when the daemon says events were missed (resync: it restarted, or this tab
// fell behind what it keeps), every page reads its state again.
import { writable } from 'svelte/store';

export type LiveState = 'connecting' | 'open' | 'closed';
export const liveState = writable<LiveState>('connecting');

type Handler = (data: Record<string, unknown>) => void;

const types = ['container', 'containers', 'deployment', 'deployment-phase', 'deployment-log'] as const;
export type LiveType = (typeof types)[number];

const handlers = new Map<string, Set<Handler>>();
const resyncs = new Set<() => void>();
let source: EventSource | null = null;
let retry: ReturnType<typeof setTimeout> | null = null;

function resyncAll() {
  for (const fn of resyncs) fn();
}

function connect() {
  if (source || typeof EventSource === 'undefined') return;
  const es = new EventSource('/api/events');
  source = es;
  es.onopen = () => {
    liveState.set('open');
    // The stream starts from now: what changed between a page's first read and this moment,
    // or while a stream was down, is read again (an unchanged index answers from cache).
    resyncAll();
  };
  es.onerror = () => {
    if (es.readyState !== EventSource.CLOSED) {
      liveState.set('connecting'); // the browser reconnects by itself
      return;
    }
    // Closed for good (an answer other than the stream: 401, 503): try again later.
    liveState.set('closed');
    source = null;
    if (!retry && subscribers() > 0)
      retry = setTimeout(() => {
        retry = null;
        connect();
      }, 3000);
  };
  for (const type of types)
    es.addEventListener(type, (ev) => {
      let data: Record<string, unknown>;
      try {
        data = JSON.parse((ev as MessageEvent).data);
      } catch {
        return;
      }
      for (const fn of handlers.get(type) ?? []) fn(data);
    });
  es.addEventListener('resync', resyncAll);
}

function subscribers() {
  let n = resyncs.size;
  for (const set of handlers.values()) n += set.size;
  return n;
}

function disconnectIfUnused() {
  if (subscribers() > 0) return;
  source?.close();
  source = null;
  if (retry) clearTimeout(retry);
  retry = null;
}

/** Calls `fn` with each event of `type`; returns the unsubscribe function. */
export function onLive(type: LiveType, fn: Handler): () => void {
  let set = handlers.get(type);
  if (!set) handlers.set(type, (set = new Set()));
  set.add(fn);
  connect();
  return () => {
    set!.delete(fn);
    disconnectIfUnused();
  };
}

/** Calls `fn` whenever what the page shows must be read again. */
export function onResync(fn: () => void): () => void {
  resyncs.add(fn);
  connect();
  return () => {
    resyncs.delete(fn);
    disconnectIfUnused();
  };
}

/** Coalesces calls within `ms` into one (a burst of events, one read). */
export function debounce(fn: () => void, ms = 100): () => void {
  let timer: ReturnType<typeof setTimeout> | null = null;
  return () => {
    if (timer) return;
    timer = setTimeout(() => {
      timer = null;
      fn();
    }, ms);
  };
}
