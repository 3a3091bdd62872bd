import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { get } from 'svelte/store';
import { FakeEventSource } from './testing/fakeEventSource';

let live: typeof import('./live');

beforeEach(async () => {
  vi.useFakeTimers();
  FakeEventSource.made = [];
  vi.stubGlobal('EventSource', FakeEventSource);
  vi.resetModules(); // a fresh connection state per test
  live = await import('./live');
});

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe('the live event stream', () => {
  it('opens one stream for every subscriber and hands each event to those of its type', () => {
    const rows: unknown[] = [];
    const logs: unknown[] = [];
    const stopRows = live.onLive('container', (d) => rows.push(d));
    const stopLogs = live.onLive('deployment-log', (d) => logs.push(d));
    expect(FakeEventSource.made).toHaveLength(1);
    const es = FakeEventSource.made[0];
    expect(es.url).toBe('/api/events');
    es.open();
    expect(get(live.liveState)).toBe('open');
    es.send('container', '{"id":"r1","state":"running"}');
    es.send('deployment-log', '{"deployment_id":"d","index":0,"line":"x"}');
    es.send('container', 'not json'); // dropped, not thrown
    expect(rows).toEqual([{ id: 'r1', state: 'running' }]);
    expect(logs).toEqual([{ deployment_id: 'd', index: 0, line: 'x' }]);
    stopRows();
    expect(es.closed).toBe(false);
    stopLogs();
    expect(es.closed).toBe(true); // the last subscriber gone: no stream held open
  });

  it('asks pages to read again on every open and on a resync event', () => {
    const resync = vi.fn();
    live.onResync(resync);
    const es = FakeEventSource.made[0];
    es.open();
    expect(resync).toHaveBeenCalledTimes(1);
    es.send('resync', '{}');
    expect(resync).toHaveBeenCalledTimes(2);
    es.fail(false); // the browser reconnects by itself
    expect(get(live.liveState)).toBe('connecting');
    es.open();
    expect(resync).toHaveBeenCalledTimes(3);
  });

  it('opens a new stream a while after one was refused', () => {
    const stop = live.onResync(() => undefined);
    FakeEventSource.made[0].fail(true); // 401 or 503: EventSource gives up
    expect(get(live.liveState)).toBe('closed');
    expect(FakeEventSource.made).toHaveLength(1);
    vi.advanceTimersByTime(3000);
    expect(FakeEventSource.made).toHaveLength(2);
    stop();
    FakeEventSource.made[1].fail(true);
    vi.advanceTimersByTime(10000);
    expect(FakeEventSource.made).toHaveLength(2); // nobody listens: no more tries
  });

  it('coalesces a burst of calls into one', () => {
    const fn = vi.fn();
    const soon = live.debounce(fn, 100);
    for (let i = 0; i < 50; ++i) soon();
    vi.advanceTimersByTime(100);
    expect(fn).toHaveBeenCalledTimes(1);
    soon();
    vi.advanceTimersByTime(100);
    expect(fn).toHaveBeenCalledTimes(2);
  });
});
