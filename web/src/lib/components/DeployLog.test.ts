// @vitest-environment jsdom
// The deploy log as a user follows it: phases taken, lines appended from the event stream in
// order, a gap read from the API, the error when the deploy fails.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { render, waitFor } from '@testing-library/svelte';
import { FakeEventSource } from '$lib/testing/fakeEventSource';
import { FakeApi } from '$lib/testing/fakeFetch';
import { locale } from '$lib/i18n';
import DeployLog from './DeployLog.svelte';

let api: FakeApi;
const stream = () => FakeEventSource.made[FakeEventSource.made.length - 1];

beforeEach(() => {
  locale.set('en');
  FakeEventSource.made = [];
  vi.stubGlobal('EventSource', FakeEventSource);
  api = new FakeApi();
  vi.stubGlobal('fetch', api.fetch);
});

afterEach(() => vi.unstubAllGlobals());

const running = { id: 'd1', status: 'running', phase: 'create', tag: 'v2', previous_tag: 'v1', log: ['pulling v2'] };

describe('DeployLog', () => {
  it('shows the phases taken, the current one, and the log so far', async () => {
    api.on('GET', '/api/deployments/d1', { body: running });
    const { container } = render(DeployLog, { deploymentId: 'd1' });
    await waitFor(() => expect(container.querySelector('[data-deployment="d1"]')).not.toBeNull());
    expect(container.querySelector('[data-status]')?.getAttribute('data-status')).toBe('running');
    expect(container.querySelector('[data-phase="pull"]')?.classList.contains('done')).toBe(true);
    expect(container.querySelector('[data-phase="create"]')?.classList.contains('current')).toBe(true);
    expect(container.querySelector('[data-phase="health"]')?.classList.contains('done')).toBe(false);
    expect(container.querySelector('[role="log"]')?.textContent).toBe('pulling v2');
    expect(container.textContent).toContain('v1');
  });

  it('appends lines from the stream in order, reads a gap from the API, ignores other deploys', async () => {
    api.on('GET', '/api/deployments/d1', { body: running });
    api.on('GET', '/api/deployments/d1?after=2', { body: { ...running, log: ['line 2', 'line 3'] } });
    const { container } = render(DeployLog, { deploymentId: 'd1' });
    const log = () => container.querySelector('[role="log"]')?.textContent;
    await waitFor(() => expect(log()).toBe('pulling v2'));
    const es = stream();
    es.send('deployment-log', JSON.stringify({ deployment_id: 'd1', index: 1, line: 'created <b>c1</b>' }));
    es.send('deployment-log', JSON.stringify({ deployment_id: 'other', index: 2, line: 'not ours' }));
    await waitFor(() => expect(log()).toBe('pulling v2\ncreated <b>c1</b>'));
    // Index 3 arrives while 2 was missed: the component asks for the lines after the two it has.
    es.send('deployment-log', JSON.stringify({ deployment_id: 'd1', index: 3, line: 'line 3' }));
    await waitFor(() => expect(log()).toBe('pulling v2\ncreated <b>c1</b>\nline 2\nline 3'));
    expect(api.calls.map((c) => c.url)).toContain('/api/deployments/d1?after=2');
    expect(container.querySelector('[role="log"] b')).toBeNull(); // text, never markup
  });

  it('moves on with the phase events and shows the error of a failed deploy', async () => {
    api.on('GET', '/api/deployments/d1', { body: running });
    const { container } = render(DeployLog, { deploymentId: 'd1' });
    await waitFor(() => expect(container.querySelector('[data-deployment="d1"]')).not.toBeNull());
    const es = stream();
    es.send('deployment-phase', JSON.stringify({ id: 'd1', phase: 'health' }));
    await waitFor(() => expect(container.querySelector('[data-phase="health"]')?.classList.contains('current')).toBe(true));
    expect(container.querySelector('[data-phase="create"]')?.classList.contains('done')).toBe(true);
    es.send('deployment', JSON.stringify({ id: 'd1', status: 'failed', error: 'health: GET /up answered 500' }));
    await waitFor(() => expect(container.querySelector('[data-status]')?.getAttribute('data-status')).toBe('failed'));
    expect(container.querySelector('.deploy-error')?.textContent).toBe('health: GET /up answered 500');
  });

  it('reads the deploy again when the stream says it missed events', async () => {
    let reads = 0;
    api.on('GET', '/api/deployments/d1', () => {
      reads++;
      return { body: reads === 1 ? running : { ...running, status: 'succeeded', phase: 'cleanup', log: ['a', 'b'] } };
    });
    const { container } = render(DeployLog, { deploymentId: 'd1' });
    await waitFor(() => expect(reads).toBe(1));
    stream().send('resync', '');
    await waitFor(() => expect(container.querySelector('[data-status]')?.getAttribute('data-status')).toBe('succeeded'));
    expect(container.querySelector('[role="log"]')?.textContent).toBe('a\nb');
  });

  it('shows the API error when the deploy cannot be read', async () => {
    api.on('GET', '/api/deployments/d1', { status: 404, body: { error: { code: 'not_found', message: 'no deployment "d1"' } } });
    const { findByRole } = render(DeployLog, { deploymentId: 'd1' });
    expect((await findByRole('alert')).textContent).toBe('no deployment "d1"');
  });
});
