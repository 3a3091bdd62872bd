import { redirect } from '@sveltejs/kit';

// The dashboard is not built yet: the index opens on the containers.
export function load() {
  redirect(307, '/containers');
}
