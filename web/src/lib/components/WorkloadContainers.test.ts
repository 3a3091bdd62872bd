// @vitest-environment jsdom
// The container panel shared by the project, stack and site pages: the workload's own rows
// (a stage's on a project page), the actions each state offers and the API each one goes
// through, the server's refusal shown, and logs with their colours but never their markup.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fireEvent, render, waitFor, within } from '@testing-library/svelte';
import { FakeApi } from '$lib/testing/fakeFetch';
import { containerRows } from '$lib/containerIndex';
import { locale } from '$lib/i18n';
import type { ContainerRow } from '$lib/api';
import WorkloadContainers from './WorkloadContainers.svelte';

let api: FakeApi;

const row = (r: Partial<ContainerRow> & { id: string }): ContainerRow => ({
  workload_id: 'w-proj',
  workload_kind: 'project',
  role: 'production',
  stage_id: 's-prod',
  state: 'running',
  container_id: 'c-' + r.id,
  ...r
});

const rows = [
  row({ id: 'web-1', image_tag: 'v2', port: 20001 }),
  row({ id: 'web-2', state: 'stopped' }),
  row({ id: 'stg-1', role: 'staging', stage_id: 's-stg' }),
  row({ id: 'db', workload_id: 'w-stack', workload_kind: 'stack', role: 'db', stage_id: null }),
  row({ id: 'new', workload_id: 'w-stack', workload_kind: 'stack', role: 'web', stage_id: null, state: 'created', container_id: '' })
];

beforeEach(() => {
  locale.set('en');
  api = new FakeApi();
  vi.stubGlobal('fetch', api.fetch);
  containerRows.set(rows);
});

afterEach(() => {
  vi.unstubAllGlobals();
  containerRows.set(null);
});

const item = (container: HTMLElement, id: string) => container.querySelector<HTMLElement>(`li[data-row="${id}"]`)!;

describe('WorkloadContainers', () => {
  it("shows a stage's rows only, with the actions each state offers", () => {
    const { container } = render(WorkloadContainers, { workloadId: 'w-proj', stageId: 's-prod', projectId: 'p1' });
    expect([...container.querySelectorAll('li[data-row]')].map((li) => li.getAttribute('data-row'))).toEqual(['web-1', 'web-2']);
    const running = within(item(container, 'web-1'));
    expect(running.getByText('v2')).toBeTruthy();
    expect(running.getByRole('button', { name: 'Stop' })).toBeTruthy();
    expect(running.getByRole('button', { name: 'Restart' })).toBeTruthy();
    expect(running.queryByRole('button', { name: 'Start' })).toBeNull();
    const stopped = within(item(container, 'web-2'));
    expect(stopped.getByRole('button', { name: 'Start' })).toBeTruthy();
    expect(stopped.queryByRole('button', { name: 'Stop' })).toBeNull();
  });

  it("acts on a project's instance through its deployer, on a stack's container through the workload", async () => {
    api.on('POST', '/api/instances/p1/production/web-1/stop', { body: rows[0] });
    api.on('POST', '/api/workloads/w-stack/containers/db/restart', { body: rows[3] });
    const project = render(WorkloadContainers, { workloadId: 'w-proj', stageId: 's-prod', projectId: 'p1' });
    await fireEvent.click(within(item(project.container, 'web-1')).getByRole('button', { name: 'Stop' }));
    project.unmount();
    const stack = render(WorkloadContainers, { workloadId: 'w-stack' });
    await fireEvent.click(within(item(stack.container, 'db')).getByRole('button', { name: 'Restart' }));
    await waitFor(() => expect(api.calls).toHaveLength(2));
    expect(api.calls).toEqual([
      { method: 'POST', url: '/api/instances/p1/production/web-1/stop' },
      { method: 'POST', url: '/api/workloads/w-stack/containers/db/restart' }
    ]);
    expect(stack.queryByRole('alert')).toBeNull();
  });

  it('offers nothing for a container Docker has not made yet', () => {
    const { container } = render(WorkloadContainers, { workloadId: 'w-stack' });
    expect(within(item(container, 'new')).queryAllByRole('button')).toHaveLength(0);
  });

  it("shows the server's refusal", async () => {
    api.on('POST', '/api/workloads/w-stack/containers/db/stop', {
      status: 409,
      body: { error: { code: 'conflict', message: 'the engine refused: container is restarting' } }
    });
    const { container, findByRole } = render(WorkloadContainers, { workloadId: 'w-stack' });
    await fireEvent.click(within(item(container, 'db')).getByRole('button', { name: 'Stop' }));
    expect((await findByRole('alert')).textContent).toBe('the engine refused: container is restarting');
  });

  it('says so when the workload has no container', () => {
    const { container } = render(WorkloadContainers, { workloadId: 'w-none' });
    expect(container.querySelector('li')).toBeNull();
    expect(container.querySelector('.empty')).not.toBeNull();
  });

  it('shows logs with their colours, never as markup', async () => {
    vi.stubGlobal('fetch', async (input: RequestInfo | URL) => {
      api.calls.push({ method: 'GET', url: String(input) });
      return new Response('\x1b[31mred alert\x1b[0m <img src=x onerror=alert(1)>\n', { status: 200 });
    });
    const { container } = render(WorkloadContainers, { workloadId: 'w-proj', stageId: 's-prod', projectId: 'p1' });
    const logsButton = within(item(container, 'web-1')).getByRole('button', { name: 'Logs' });
    expect(logsButton.getAttribute('aria-expanded')).toBe('false');
    await fireEvent.click(logsButton);
    expect(logsButton.getAttribute('aria-expanded')).toBe('true');
    const log = await waitFor(() => {
      const el = item(container, 'web-1').querySelector('[role="log"]');
      expect(el?.textContent).toContain('red alert');
      return el!;
    });
    expect(log.querySelector('img')).toBeNull();
    expect(log.textContent).toContain('<img src=x onerror=alert(1)>');
    const red = [...log.querySelectorAll('span')].find((s) => s.textContent === 'red alert');
    expect(red?.getAttribute('style')).toMatch(/color:\s*rgb\(187,\s*0,\s*0\)/);
    expect(api.calls.map((c) => c.url)).toEqual(['/api/containers/web-1/logs?tail=500']);
  });
});
