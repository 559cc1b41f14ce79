import type { z } from 'zod';
import type { FieldError } from './common';
import { dottedPath, printable } from './json';

/**
 * Zod issues as `{path, message}` with dotted paths (`action.args.path`).
 * @example toFieldErrors(TaskSubmission.safeParse(x).error!)
 */
export function toFieldErrors(error: z.ZodError): FieldError[] {
  return error.issues.flatMap((i) => {
    // name each unknown key in the path, not just the object holding it; paths and messages are
    // printable, so an error that names a bad key can itself be stored and published
    if (i.code === 'unrecognized_keys') {
      return i.keys.map((k) => ({ path: dottedPath([...i.path, k]), message: 'unknown field' }));
    }
    return [{ path: dottedPath(i.path), message: printable(i.message) }];
  });
}

/** Parse or return field errors; never throws. */
export function parseWith<S extends z.ZodType>(
  schema: S,
  value: unknown,
): { ok: true; value: z.infer<S> } | { ok: false; errors: FieldError[] } {
  const r = schema.safeParse(value);
  return r.success ? { ok: true, value: r.data } : { ok: false, errors: toFieldErrors(r.error) };
}

// the input rule (NUL, lone surrogates, depth, number range) lives beside the zod helpers
export * from './json';
