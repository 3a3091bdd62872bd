import { describe, expect, it } from 'vitest';
import { counts, filtersOf, latestOnly, matches, queryOf } from './containers';
import type { ContainerRow } from './api';

const row = (workload_kind: string, state: string): ContainerRow => ({
  id: `${workload_kind}-${state}`,
  workload_id: 'w',
  workload_kind,
  role: 'web',
  state
});

describe('container filters', () => {
  it('reads kind and state from the URL and ignores unknown values', () => {
    expect(filtersOf(new URLSearchParams('kind=stack&state=running'))).toEqual({ kind: 'stack', state: 'running' });
    expect(filtersOf(new URLSearchParams('kind=<script>&state=x'))).toEqual({ kind: '', state: '' });
  });
  it('writes back the same query, and nothing for no filter', () => {
    expect(queryOf({ kind: 'stack', state: 'running' })).toBe('?kind=stack&state=running');
    expect(queryOf({ kind: '', state: '' })).toBe('');
  });
  it('counts the whole population per tab', () => {
    const rows = [row('project', 'running'), row('project', 'exited'), row('stack', 'running'), row('site', 'running')];
    const c = counts(rows, { kind: 'project', state: '' });
    expect(c.byState).toEqual({ '': 2, running: 1, exited: 1 });
    expect(c.byKind).toEqual({ '': 4, project: 2, stack: 1, site: 1 });
    expect(rows.filter((r) => matches(r, { kind: 'stack', state: 'running' }))).toHaveLength(1);
  });
});

describe('latestOnly', () => {
  it('drops an older answer that arrives after a newer one', async () => {
    const resolvers: Array<(v: string) => void> = [];
    const applied: string[] = [];
    const run = latestOnly(
      () => new Promise<string>((resolve) => resolvers.push(resolve)),
      (v) => applied.push(v)
    );
    const first = run();
    const second = run();
    resolvers[1]('new');
    resolvers[0]('old');
    expect(await second).toBe(true);
    expect(await first).toBe(false);
    expect(applied).toEqual(['new']);
  });
});
