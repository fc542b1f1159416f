/** The CLI's string flags turned into values, each refusal an E_USAGE naming the flag. */
import { MigrateError } from '../errors.js';

export function positiveInt(raw: string | undefined, name: string, fallback: number, max: number): number {
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) throw new MigrateError('E_USAGE', `${name} must be a positive integer, got "${raw}"`);
  const value = Number(raw);
  if (value < 1 || value > max) throw new MigrateError('E_USAGE', `${name} must be between 1 and ${max}, got ${value}`);
  return value;
}

export function oneOf<T extends string>(raw: string | undefined, name: string, allowed: readonly T[], fallback: T): T {
  if (raw === undefined) return fallback;
  if ((allowed as readonly string[]).includes(raw)) return raw as T;
  throw new MigrateError('E_USAGE', `${name} must be one of ${allowed.join(', ')}; got "${raw}"`);
}

export function list(raw: string | undefined, name: string): string[] | null {
  if (raw === undefined) return null;
  const items = raw
    .split(',')
    .map((u) => u.trim())
    .filter((u) => u !== '');
  if (items.length === 0) throw new MigrateError('E_USAGE', `${name} needs at least one name`);
  return items;
}

export function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}
