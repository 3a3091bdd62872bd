import { sveltekit } from '@sveltejs/kit/vite';
import { svelteTesting } from '@testing-library/svelte/vite';
import { defineConfig } from 'vitest/config';

// `npm run dev` serves the UI with the API proxied to a running daemon (TF_DAEMON_URL,
// default http://127.0.0.1:8080).
const daemon = process.env.TF_DAEMON_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  // svelteTesting acts only under vitest: components compiled for the browser, cleaned up
  // after each test.
  plugins: [sveltekit(), svelteTesting()],
  server: { proxy: { '/api': daemon, '/healthz': daemon } },
  test: { include: ['src/**/*.test.ts'] }
});
