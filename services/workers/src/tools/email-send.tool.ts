import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { EmailArgs as Args } from '@warden/contracts';
import { sha256Canonical } from '@warden/kernel';
import { ToolError, parseArgs, settingsOf, type Tool, type ToolSettings } from './domain/tool';

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
    const mail = message(s, a);
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
    const { messageId, name } = await writeEml(s.outbox, mail);
    return { message_id: messageId, outbox_file: name };
  },
};

/** The drafts folder: `drafts/` inside `WORKER_EMAIL_OUTBOX`. */
export const DRAFTS_DIR = 'drafts';

/**
 * `email.draft {to, cc?, subject, text?|html?, reply_to?}` → `{message_id, draft_file}`: the message,
 * from `WORKER_EMAIL_FROM`, stored as an `.eml` file in the `drafts/` folder of `WORKER_EMAIL_OUTBOX`
 * and never sent (what the `email_draft` recipe makes of `email.send`: a human sends it). Needs no
 * network.
 */
export const emailDraftTool: Tool = {
  name: 'email.draft',
  idempotent: false,
  args: Args,
  result: z.object({ message_id: z.string(), draft_file: z.string() }),
  async run(raw, ctx) {
    const a = parseArgs('email.draft', Args, raw);
    const s = settingsOf(ctx, 'email.draft').email;
    if (!s.outbox) {
      throw new ToolError(
        'TOOL.NOT_CONFIGURED',
        'email.draft: set WORKER_EMAIL_OUTBOX (drafts go to its drafts/ folder)',
      );
    }
    const { messageId, name } = await writeEml(path.join(s.outbox, DRAFTS_DIR), message(s, a));
    return { message_id: messageId, draft_file: path.join(DRAFTS_DIR, name) };
  },
};

type Mail = ReturnType<typeof message>;

function message(s: ToolSettings['email'], a: z.infer<typeof Args>) {
  return {
    from: s.from,
    to: list(a.to),
    cc: list(a.cc),
    subject: a.subject,
    text: a.text,
    html: a.html,
    replyTo: a.reply_to,
  };
}

/** Renders the message (RFC 5322) and writes it as a new `.eml` file (mode 0600) in `dir`. */
async function writeEml(dir: string, mail: Mail): Promise<{ messageId: string; name: string }> {
  const { createTransport } = await import('nodemailer');
  const transport = createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  const info = (await transport.sendMail(mail)) as { messageId: string; message: Buffer };
  await fs.mkdir(dir, { recursive: true });
  const name = `${new Date().toISOString().replace(/[:.]/g, '-')}-${sha256Canonical(info.messageId).slice(7, 19)}.eml`;
  await fs.writeFile(path.join(dir, name), info.message, { flag: 'wx', mode: 0o600 });
  return { messageId: info.messageId, name };
}
