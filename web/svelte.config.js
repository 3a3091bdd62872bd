// A single-page app: adapter-static writes index.html as the fallback for every path the
// daemon does not serve itself, and the daemon embeds the output (web/CMakeLists.txt).
// TF_WEB_OUT puts the output in the CMake build directory. SvelteKit's generated files stay
// in web/.svelte-kit (gitignored): its server half imports from web/node_modules.
import adapter from '@sveltejs/adapter-static';
import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

const out = process.env.TF_WEB_OUT ?? 'build';

/** @type {import('@sveltejs/kit').Config} */
export default {
  preprocess: vitePreprocess(),
  kit: {
    adapter: adapter({ pages: out, assets: out, fallback: 'index.html', strict: true }),
    // No request to any other host: the app and its API share one origin.
    // Inline style attributes stay allowed: SvelteKit's route announcer and the body's
    // wrapper use them; scripts are held to the hashes of the inline bootstrap.
    csp: {
      mode: 'hash',
      directives: { 'default-src': ['self'], 'img-src': ['self', 'data:'], 'style-src': ['self', 'unsafe-inline'] }
    }
  }
};
