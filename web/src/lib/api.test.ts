import { describe, expect, it } from 'vitest';
import { afterLogin } from './api';

describe('after a login', () => {
  it('goes back to the page that asked for it', () => {
    expect(afterLogin('/containers?kind=stack&state=running')).toBe('/containers?kind=stack&state=running');
    expect(afterLogin('/projects/abc')).toBe('/projects/abc');
  });
  it('never leaves the origin, and never back to the login page', () => {
    for (const next of ['//evil.example/x', '/\\evil.example', 'https://evil.example/', 'javascript:alert(1)', '/login?next=/x', '', null])
      expect(afterLogin(next)).toBe('/');
  });
});
