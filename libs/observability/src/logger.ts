import type { LoggerService } from '@nestjs/common';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const SECRET_KEYS = /token|secret|password|authorization|signature|api[_-]?key/i;

/** Structured fields; values under secret-looking keys are redacted before printing. */
export type LogFields = Record<string, unknown>;

/**
 * A small structured logger: `LOG_FORMAT=json` prints one JSON object per line, otherwise
 * `LEVEL message key=value`. Secret-looking fields are always redacted.
 * @example const log = new Logger('policy'); log.info('decided', { run_id })
 */
export class Logger {
  private readonly min: number;
  constructor(
    readonly name: string,
    private readonly format: 'json' | 'text' = process.env.LOG_FORMAT === 'json' ? 'json' : 'text',
    level: LogLevel = (process.env.LOG_LEVEL as LogLevel) in ORDER ? (process.env.LOG_LEVEL as LogLevel) : 'info',
  ) {
    this.min = ORDER[level];
  }
  child(name: string): Logger {
    return new Logger(`${this.name}:${name}`, this.format);
  }
  debug(msg: string, fields?: LogFields): void {
    this.write('debug', msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.write('info', msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.write('warn', msg, fields);
  }
  error(msg: string, fields?: LogFields): void {
    this.write('error', msg, fields);
  }
  private write(level: LogLevel, msg: string, fields: LogFields = {}): void {
    if (ORDER[level] < this.min) return;
    const safe = redact(fields);
    const stream = level === 'error' || level === 'warn' ? process.stderr : process.stdout;
    if (this.format === 'json') {
      stream.write(JSON.stringify({ time: new Date().toISOString(), level, logger: this.name, msg, ...safe }) + '\n');
      return;
    }
    const kv = Object.entries(safe)
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ');
    stream.write(`${level.toUpperCase().padEnd(5)} [${this.name}] ${msg}${kv ? ' ' + kv : ''}\n`);
  }
}

function redact(fields: LogFields): LogFields {
  const out: LogFields = {};
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    if (SECRET_KEYS.test(k)) out[k] = '[redacted]';
    else if (v instanceof Error) out[k] = v.message;
    else out[k] = v;
  }
  return out;
}

/** Adapter so Nest's own messages go through the same logger. */
export class NestLoggerAdapter implements LoggerService {
  constructor(private readonly logger: Logger) {}
  log(message: unknown, context?: string): void {
    this.logger.debug(String(message), context ? { context } : undefined);
  }
  error(message: unknown, trace?: string, context?: string): void {
    this.logger.error(String(message), { context, trace });
  }
  warn(message: unknown, context?: string): void {
    this.logger.warn(String(message), context ? { context } : undefined);
  }
  debug(message: unknown, context?: string): void {
    this.logger.debug(String(message), context ? { context } : undefined);
  }
  verbose(message: unknown, context?: string): void {
    this.logger.debug(String(message), context ? { context } : undefined);
  }
}
