// A workload's page is its project's, stack's or site's: the containers index links here
// by workload id.
import { redirect } from '@sveltejs/kit';
import { api } from '$lib/api';
import type { Workload } from '$lib/workloadNames';
import { workloadHref } from '$lib/workloadNames';

export async function load({ params }) {
  const w = await api.get<Workload>(`/api/workloads/${encodeURIComponent(params.id)}`);
  redirect(307, workloadHref(w));
}
