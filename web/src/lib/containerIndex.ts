// The containers index as every page sees it: one unfiltered read of the whole index,
// read again when the daemon's event stream says a row changed. The sidebar's counter and
// the Containers, project, stack and site pages share it.
import { writable } from 'svelte/store';
import { goto } from '$app/navigation';
import { api, ApiError, loginHref, type ContainerRow } from './api';
import { latestOnly } from './containers';
import { debounce, onLive, onResync } from './live';

export const containerRows = writable<ContainerRow[] | null>(null);
export const containerError = writable('');

const refresh = latestOnly(
  () => api.get<{ items: ContainerRow[] }>('/api/containers?limit=5000'),
  (list) => {
    containerRows.set(list.items);
    containerError.set('');
  }
);

export async function loadContainers(): Promise<void> {
  try {
    await refresh();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      await goto(loginHref());
      return;
    }
    containerError.set(e instanceof Error ? e.message : String(e));
  }
}

let watchers = 0;
let unsubscribe: Array<() => void> = [];

/** Keeps the index current while the caller shows it; returns the function that stops. */
export function watchContainers(): () => void {
  if (watchers++ === 0) {
    const soon = debounce(loadContainers, 100);
    unsubscribe = [onLive('container', soon), onLive('containers', soon), onResync(loadContainers)];
    loadContainers();
  }
  return () => {
    if (--watchers === 0) {
      for (const stop of unsubscribe) stop();
      unsubscribe = [];
    }
  };
}
