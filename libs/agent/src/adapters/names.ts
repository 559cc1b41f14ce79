/** Warden's tool-name grammar (`namespace.name`, CONTRACT §2). */
const WARDEN_TOOL = /^[a-z][a-z0-9_]*\.[A-Za-z0-9_.-]+$/;

/**
 * The Warden tool name of a framework tool. Frameworks send tool names to providers, which allow no
 * dot, so a tool is named `<namespace>__<name>` there (`crm__update_contact` → `crm.update_contact`);
 * a name that already has a dot is kept; `names` overrides both.
 * @example wardenToolName('fs__write_file') // 'fs.write_file'
 */
export function wardenToolName(key: string, names: Record<string, string> = {}): string {
  const name = names[key] ?? (key.includes('.') ? key : key.replace('__', '.'));
  if (!WARDEN_TOOL.test(name))
    throw new TypeError(
      `tool "${key}": Warden needs a "namespace.name" tool name (policy rules name it); call it "<namespace>__<name>" ` +
        `(e.g. "crm__${key}") or pass names: { ${JSON.stringify(key)}: "crm.${key}" }`,
    );
  return name;
}
