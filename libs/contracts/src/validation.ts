import type { z } from 'zod';
import type { FieldError } from './common';

/**
 * Zod issues as `{path, message}` with dotted paths (`action.args.path`).
 * @example toFieldErrors(TaskSubmission.safeParse(x).error!)
 */
export function toFieldErrors(error: z.ZodError): FieldError[] {
  return error.issues.flatMap((i) => {
    const base = i.path.map(String);
    // name each unknown key in the path, not just the object holding it
    if (i.code === 'unrecognized_keys') {
      return i.keys.map((k) => ({ path: [...base, k].join('.'), message: 'unknown field' }));
    }
    return [{ path: base.join('.'), message: i.message }];
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
