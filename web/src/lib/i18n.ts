// Every string of the UI comes from a locale file; the choice is remembered in localStorage.
import { writable, derived } from 'svelte/store';
import en from './locales/en.json';
import ru from './locales/ru.json';

export const locales = { en, ru } as const;
export type Locale = keyof typeof locales;
export type Key = keyof typeof en;

function initial(): Locale {
  const saved = typeof localStorage !== 'undefined' ? localStorage.getItem('tf.locale') : null;
  if (saved === 'en' || saved === 'ru') return saved;
  const nav = typeof navigator !== 'undefined' ? navigator.language : 'en';
  return nav.startsWith('ru') ? 'ru' : 'en';
}

export const locale = writable<Locale>(initial());
locale.subscribe((l) => {
  if (typeof localStorage !== 'undefined') localStorage.setItem('tf.locale', l);
  if (typeof document !== 'undefined') document.documentElement.lang = l;
});

/** The string of `key` in the chosen locale (English when the locale lacks it). */
export const t = derived(locale, (l) => (key: Key) => (locales[l] as Record<string, string>)[key] ?? en[key]);
