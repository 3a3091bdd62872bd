// A single-page app: every page renders in the browser against the daemon's API.
export const ssr = false;
export const prerender = false;
