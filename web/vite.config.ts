import { sveltekit } from '@sveltejs/kit/vite';
import { defineConfig } from 'vitest/config';

// `npm run dev` serves the UI with the API proxied to a running daemon (TF_DAEMON_URL,
// default http://127.0.0.1:8080).
const daemon = process.env.TF_DAEMON_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [sveltekit()],
  server: { proxy: { '/api': daemon, '/healthz': daemon } },
  test: { include: ['src/**/*.test.ts'] }
});
