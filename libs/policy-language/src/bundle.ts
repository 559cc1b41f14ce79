import { LineCounter, parseDocument, type Document } from 'yaml';
import { toFieldErrors } from '@warden/contracts';
import { ValidationError, sha256Canonical, type FieldError } from '@warden/kernel';
import { BundlePlan } from './plan';
import { MAX_BUNDLE_BYTES, MAX_BUNDLE_DEPTH, PolicyBundleSchema, tooDeep, type PolicyBundle } from './schema';

// the bundle's schema and types live in ./schema, which ./plan also reads (no import cycle)
export * from './schema';

/** A validated bundle with its digest and its compiled form: what {@link evaluate} judges by. */
export interface LoadedBundle {
  bundle: PolicyBundle;
  /** `sha256:<hex>` of the canonical JSON of the parsed bundle (defaults applied). */
  digest: string;
  /** CEL programs, rule index and matchers, built once when the bundle loads. */
  plan: BundlePlan;
}

/**
 * Validates a bundle already parsed from YAML/JSON and compiles it (every CEL expression parsed and
 * type-checked once). Throws {@link ValidationError} with dotted paths (`rules.3.tier: escalate needs tier 2 or 3`).
 * @example const policy = loadBundle({ version: '1', tiers, roles, rules })
 */
export function loadBundle(raw: unknown): LoadedBundle {
  const deep = tooDeep(raw);
  if (deep !== undefined)
    throw new ValidationError([{ path: deep, message: `nests deeper than ${MAX_BUNDLE_DEPTH} levels` }]);
  const r = PolicyBundleSchema.safeParse(raw);
  if (!r.success) throw new ValidationError(toFieldErrors(r.error));
  const plan = new BundlePlan(r.data);
  if (plan.errors.length) throw new ValidationError(plan.errors);
  return { bundle: r.data, digest: sha256Canonical(r.data), plan };
}

/**
 * Parses bundle text (YAML, or JSON, which YAML includes) and validates it. Syntax errors are
 * reported with their line and column; every validation error names its path and, where the
 * YAML has it, the line (`rules.3.tier: escalate needs tier 2 or 3 (line 42)`); duplicate keys are refused.
 * @example const policy = parseBundle(readFileSync('deploy/policies/default.yaml', 'utf8'))
 */
export function parseBundle(text: string): LoadedBundle {
  if (Buffer.byteLength(text, 'utf8') > MAX_BUNDLE_BYTES) {
    throw new ValidationError([{ path: '', message: `bundle is larger than ${MAX_BUNDLE_BYTES} bytes` }]);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true, lineCounter: lines });
  if (doc.errors.length) {
    const errors: FieldError[] = doc.errors.map((e) => ({
      path: '',
      message: /call stack/i.test(e.message)
        ? `bundle nests deeper than ${MAX_BUNDLE_DEPTH} levels`
        : `YAML: ${e.message.split('\n')[0]}`,
    }));
    throw new ValidationError(errors);
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    const message = (err as Error).message;
    throw new ValidationError([
      {
        path: '',
        message: /call stack/i.test(message)
          ? `bundle nests deeper than ${MAX_BUNDLE_DEPTH} levels`
          : `YAML: ${message}`,
      },
    ]);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ValidationError([{ path: '', message: 'bundle must be a mapping with version, tiers, roles and rules' }]);
  }

  try {
    return loadBundle(raw);
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    throw new ValidationError(err.errors.map((e) => withLine(e, doc, lines)));
  }
}

/** Adds ` (line N)` for the deepest node of the error's path that the YAML document has. */
function withLine(e: FieldError, doc: Document, lines: LineCounter): FieldError {
  if (!e.path) return e;
  const parts: (string | number)[] = e.path.split('.').map((p) => (/^\d+$/.test(p) ? Number(p) : p));
  for (let n = parts.length; n > 0; n--) {
    const node = doc.getIn(parts.slice(0, n), true) as { range?: [number, number, number] } | undefined;
    if (node && typeof node === 'object' && node.range) {
      return { ...e, message: `${e.message} (line ${lines.linePos(node.range[0]).line})` };
    }
  }
  return e;
}
