import { z } from 'zod';

/** A UUID (any version). */
export const Uuid = z.uuid();
/** W3C trace id: 32 lowercase hex chars, not all zero. */
export const TraceId = z
  .string()
  .regex(/^[0-9a-f]{32}$/, 'must be 32 lowercase hex chars')
  .refine((s) => !/^0+$/.test(s), 'must not be all zeros');
/** `sha256:<64 hex>` */
export const Sha256 = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'must be sha256:<64 hex chars>');
/** ISO-8601 timestamp with offset. */
export const Timestamp = z.iso.datetime({ offset: true });
/** Any JSON object. */
export const JsonObject = z.record(z.string(), z.unknown());

/**
 * A tool name: `namespace.name`. The namespace is lowercase; the name keeps an upstream MCP tool's
 * own spelling (`everything.get-sum`, `github.searchIssues`): letters, digits, `_`, `.` and `-`.
 */
export const ToolName = z
  .string()
  .max(200)
  .regex(/^[a-z][a-z0-9_]*\.[A-Za-z0-9_.-]+$/, 'must be namespace.verb, e.g. fs.read_file or everything.get-sum');

/** What an agent proposes to do. */
export const Action = z.strictObject({
  tool: ToolName,
  args: JsonObject.default({}),
});
export type Action = z.infer<typeof Action>;

/** A field-level error: dotted path + message. */
export const FieldError = z.object({ path: z.string(), message: z.string() });
export type FieldError = z.infer<typeof FieldError>;
