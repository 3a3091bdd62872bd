// Workload names for the pages that show container rows (the index carries only ids),
// read when a page that needs them opens and again on a resync.
import { writable } from 'svelte/store';
import { api } from './api';
import { latestOnly } from './containers';
import { onResync } from './live';

export interface Workload {
  id: string;
  kind: 'project' | 'stack' | 'site';
  name: string;
  ref_id: string;
  app_id?: string | null;
  notification_url?: string | null;
  webhook_require_signature: boolean;
  webhook_url?: string | null;
  has_signing_secret: boolean;
  has_notification_secret: boolean;
}

export const workloads = writable<Map<string, Workload>>(new Map());

const refresh = latestOnly(
  () => api.get<{ items: Workload[] }>('/api/workloads?limit=500'),
  (list) => workloads.set(new Map(list.items.map((w) => [w.id, w])))
);

let watchers = 0;
let stop: (() => void) | null = null;

export function watchWorkloads(): () => void {
  const load = () => refresh().catch(() => undefined);
  if (watchers++ === 0) {
    stop = onResync(load);
    load();
  }
  return () => {
    if (--watchers === 0 && stop) {
      stop();
      stop = null;
    }
  };
}

const asked = new Set<string>();

/** Reads the names again when a row names a workload not known yet (one made since the
 * last read); each unknown id causes one read at most. */
export function knowWorkloads(ids: Iterable<string>, known: Map<string, Workload>) {
  let missing = false;
  for (const id of ids)
    if (!known.has(id) && !asked.has(id)) {
      asked.add(id);
      missing = true;
    }
  if (missing) refresh().catch(() => undefined);
}

/** Where a workload's page is. */
export function workloadHref(w: Pick<Workload, 'kind' | 'ref_id'>): string {
  return `/${w.kind}s/${w.ref_id}`;
}
