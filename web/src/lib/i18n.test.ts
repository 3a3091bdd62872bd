import { describe, expect, it } from 'vitest';
import en from './locales/en.json';
import ru from './locales/ru.json';

describe('locales', () => {
  it('English and Russian have the same keys', () => {
    expect(Object.keys(ru).sort()).toEqual(Object.keys(en).sort());
  });
  it('no Russian string is left empty', () => {
    for (const [k, v] of Object.entries(ru)) expect(v, k).not.toBe('');
  });
});
