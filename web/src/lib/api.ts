// The daemon's API, same origin, the session in its HttpOnly cookie. Errors come back as the
// API's own {error: {code, message}} so a page can show the server's words.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string
  ) {
    super(message);
  }
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method, credentials: 'same-origin', headers: {} };
  if (body !== undefined) {
    (init.headers as Record<string, string>)['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let data: unknown = undefined;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    throw new ApiError(res.status, 'bad_answer', `${method} ${path}: ${res.status}, not JSON`);
  }
  if (!res.ok) {
    const err = (data as { error?: { code?: string; message?: string } } | undefined)?.error;
    throw new ApiError(res.status, err?.code ?? 'error', err?.message ?? `${method} ${path}: ${res.status}`);
  }
  return data as T;
}

/** A text/plain answer (container logs), or the API's error. */
async function text(path: string): Promise<string> {
  const res = await fetch(path, { credentials: 'same-origin' });
  const body = await res.text();
  if (res.ok) return body;
  let err: { code?: string; message?: string } | undefined;
  try {
    err = JSON.parse(body)?.error;
  } catch {
    err = undefined;
  }
  throw new ApiError(res.status, err?.code ?? 'error', err?.message ?? `GET ${path}: ${res.status}`);
}

/** POSTs a file as the request body with its upload progress (0..1); the answer as JSON. */
export function upload<T>(path: string, file: Blob, type: string, progress: (done: number) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    xhr.setRequestHeader('Content-Type', type);
    xhr.upload.onprogress = (e) => e.lengthComputable && progress(e.loaded / e.total);
    xhr.onerror = () => reject(new ApiError(0, 'network', `POST ${path}: the connection failed`));
    xhr.onload = () => {
      let data: unknown;
      try {
        data = xhr.responseText ? JSON.parse(xhr.responseText) : undefined;
      } catch {
        data = undefined;
      }
      if (xhr.status >= 200 && xhr.status < 300) return resolve(data as T);
      const err = (data as { error?: { code?: string; message?: string } } | undefined)?.error;
      reject(new ApiError(xhr.status, err?.code ?? 'error', err?.message ?? `POST ${path}: ${xhr.status}`));
    };
    xhr.send(file);
  });
}

export const api = {
  text,
  get: <T>(path: string) => call<T>('GET', path),
  post: <T>(path: string, body?: unknown) => call<T>('POST', path, body ?? {}),
  patch: <T>(path: string, body: unknown) => call<T>('PATCH', path, body),
  del: <T>(path: string) => call<T>('DELETE', path)
};

export interface CurrentUser {
  id: string;
  username: string;
}

export interface ContainerRow {
  id: string;
  workload_id: string;
  workload_kind: string;
  workload_name?: string;
  role: string;
  stage_id?: string | null;
  state: string;
  image_tag?: string;
  container_id?: string;
  port?: number;
  host?: string;
}

export interface Stage {
  id: string;
  project_id: string;
  name: string;
  subdomain?: string | null;
  port: number;
  instances: number;
  health_path: string;
  current_tag?: string | null;
  previous_tag?: string | null;
}

export interface Project {
  id: string;
  name: string;
  image: string;
  workload_id: string;
  webhook_url?: string | null;
  stages: Stage[];
  created_at: string;
}

export interface Deployment {
  id: string;
  workload_id: string;
  stage_id?: string | null;
  status: string;
  tag?: string | null;
  previous_tag?: string | null;
  trigger: string;
  triggered_by?: string | null;
  error?: string | null;
  phase?: string | null;
  created_at: string;
  started_at?: string | null;
  finished_at?: string | null;
  log?: string[];
  log_total?: number;
}

export interface Page<T> {
  items: T[];
  total: number;
}

/** Where a 401 sends the browser: the login page, which comes back here after. */
export function loginHref(): string {
  const here = typeof location !== 'undefined' ? location.pathname + location.search : '/';
  return here.startsWith('/login') ? '/login' : `/login?next=${encodeURIComponent(here)}`;
}

/** Where a login goes on: `next` when it names a page of this UI, else the dashboard. */
export function afterLogin(next: string | null): string {
  // Only a path of this origin: "//host" or "/\host" would leave it.
  return next && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/\\') && !next.startsWith('/login')
    ? next
    : '/';
}
