// The Containers page's model: one unfiltered fetch of the whole index, filters applied in
// the page (so the tab counters show the whole population) and kept in the URL.
import type { ContainerRow } from './api';

export const kinds = ['project', 'stack', 'site'] as const;
export const states = ['running', 'created', 'exited', 'failed', 'missing'] as const;

export interface Filters {
  kind: string; // '' = all
  state: string;
}

/** The filters a URL names; unknown values count as "all". */
export function filtersOf(params: URLSearchParams): Filters {
  const kind = params.get('kind') ?? '';
  const state = params.get('state') ?? '';
  return {
    kind: (kinds as readonly string[]).includes(kind) ? kind : '',
    state: (states as readonly string[]).includes(state) ? state : ''
  };
}

/** The query string of `f` ('' when no filter is set). */
export function queryOf(f: Filters): string {
  const p = new URLSearchParams();
  if (f.kind) p.set('kind', f.kind);
  if (f.state) p.set('state', f.state);
  const s = p.toString();
  return s ? `?${s}` : '';
}

export function matches(row: ContainerRow, f: Filters): boolean {
  return (!f.kind || row.workload_kind === f.kind) && (!f.state || row.state === f.state);
}

/** Rows per kind (under the state filter) and per state (under the kind filter). */
export function counts(rows: ContainerRow[], f: Filters) {
  const byKind: Record<string, number> = { '': 0 };
  const byState: Record<string, number> = { '': 0 };
  for (const r of rows) {
    if (!f.state || r.state === f.state) {
      byKind[''] += 1;
      byKind[r.workload_kind] = (byKind[r.workload_kind] ?? 0) + 1;
    }
    if (!f.kind || r.workload_kind === f.kind) {
      byState[''] += 1;
      byState[r.state] = (byState[r.state] ?? 0) + 1;
    }
  }
  return { byKind, byState };
}

/**
 * Runs loads so that only the newest one's answer is kept: an older request that answers
 * late (a slow network, a reconnect) never overwrites a newer view.
 */
export function latestOnly<T>(load: () => Promise<T>, apply: (value: T) => void) {
  let sequence = 0;
  return async () => {
    const mine = ++sequence;
    const value = await load();
    if (mine === sequence) apply(value);
    return mine === sequence;
  };
}
