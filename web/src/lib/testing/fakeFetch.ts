// A stand-in for fetch in component tests: answers by method and path from a table the test
// fills, and records every call, so a test sees which API a component used and with what.

export type Answer = { status?: number; body?: unknown };

export class FakeApi {
  calls: Array<{ method: string; url: string }> = [];
  private answers = new Map<string, Answer | ((url: string) => Answer)>();

  /** Answers `method url` (the URL as the component asks for it, query included). */
  on(method: string, url: string, answer: Answer | ((url: string) => Answer)): this {
    this.answers.set(`${method} ${url}`, answer);
    return this;
  }

  fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const url = String(input);
    const method = (init?.method ?? 'GET').toUpperCase();
    this.calls.push({ method, url });
    const found = this.answers.get(`${method} ${url}`);
    const answer = typeof found === 'function' ? found(url) : found;
    if (!answer)
      return new Response(JSON.stringify({ error: { code: 'not_found', message: `no answer for ${method} ${url}` } }), {
        status: 404
      });
    const status = answer.status ?? 200;
    return new Response(status === 204 ? null : JSON.stringify(answer.body ?? {}), { status });
  };
}
