import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { sha256Canonical } from '@warden/kernel';
import { ToolError, parseArgs, settingsOf, type Tool } from './tool';

const Address = z.email();
const Recipients = z.union([Address, z.array(Address).min(1).max(50)]);
const Args = z
  .strictObject({
    to: Recipients,
    cc: Recipients.optional(),
    subject: z.string().min(1).max(998),
    text: z
      .string()
      .max(1024 * 1024)
      .optional(),
    html: z
      .string()
      .max(1024 * 1024)
      .optional(),
    reply_to: Address.optional(),
  })
  .refine((a) => a.text !== undefined || a.html !== undefined, { message: 'give text or html', path: ['text'] });

const list = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/**
 * `email.send {to, cc?, subject, text?|html?, reply_to?}` → `{message_id, accepted, rejected}` through
 * the configured SMTP server (`WORKER_SMTP_URL`), or `{message_id, outbox_file}` written as an `.eml`
 * file to `WORKER_EMAIL_OUTBOX` when no server is configured. The sender is always `WORKER_EMAIL_FROM`.
 */
export const emailSendTool: Tool = {
  name: 'email.send',
  idempotent: false,
  network: true,
  args: Args,
  result: z.object({
    message_id: z.string(),
    accepted: z.array(z.string()).optional(),
    rejected: z.array(z.string()).optional(),
    outbox_file: z.string().optional(),
  }),
  async run(raw, ctx) {
    const a = parseArgs('email.send', Args, raw);
    const s = settingsOf(ctx, 'email.send').email;
    const mail = {
      from: s.from,
      to: list(a.to),
      cc: list(a.cc),
      subject: a.subject,
      text: a.text,
      html: a.html,
      replyTo: a.reply_to,
    };
    // loaded on first use: most sandboxes never send mail
    const { createTransport } = await import('nodemailer');
    if (s.smtpUrl) {
      const transport = createTransport(s.smtpUrl, {
        connectionTimeout: s.timeoutMs,
        greetingTimeout: s.timeoutMs,
        socketTimeout: s.timeoutMs,
      });
      try {
        const info = (await transport.sendMail(mail)) as {
          messageId: string;
          accepted: unknown[];
          rejected: unknown[];
        };
        return { message_id: info.messageId, accepted: info.accepted.map(String), rejected: info.rejected.map(String) };
      } catch (err) {
        const e = err as { code?: string; responseCode?: number; message: string };
        throw new ToolError('EMAIL.FAILED', `email.send: ${e.code ?? ''} ${e.responseCode ?? ''} ${e.message}`.trim());
      } finally {
        transport.close();
      }
    }
    if (!s.outbox) throw new ToolError('TOOL.NOT_CONFIGURED', 'email.send: set WORKER_SMTP_URL or WORKER_EMAIL_OUTBOX');
    const transport = createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
    const info = (await transport.sendMail(mail)) as { messageId: string; message: Buffer };
    await fs.mkdir(s.outbox, { recursive: true });
    const name = `${new Date().toISOString().replace(/[:.]/g, '-')}-${sha256Canonical(info.messageId).slice(7, 19)}.eml`;
    await fs.writeFile(path.join(s.outbox, name), info.message, { flag: 'wx', mode: 0o600 });
    return { message_id: info.messageId, outbox_file: name };
  },
};
