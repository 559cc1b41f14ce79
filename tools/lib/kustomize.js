'use strict';
/**
 * A small kustomize renderer for the subset deploy/kubernetes uses, so CI renders the overlays
 * without kubectl (there is no cluster or kubectl here):
 *   resources (files and directories), components (kind: Component), namespace, images
 *   (name -> newName/newTag), replicas (name -> count), patches (inline JSON 6902 with a
 *   target of kind and/or name).
 * Anything else in a kustomization.yaml is refused, so a feature this renderer does not implement
 * cannot be silently ignored. The semantics follow kustomize: resources and components in order,
 * then this level's namespace, images, replicas and patches.
 *
 *   node tools/lib/kustomize.js deploy/kubernetes/overlays/production   # prints the YAML stream
 */
const fs = require('node:fs');
const path = require('node:path');
const YAML = require('yaml');

const KNOWN = new Set(['apiVersion', 'kind', 'resources', 'components', 'namespace', 'images', 'replicas', 'patches']);
// kinds that live outside namespaces (none of ours today; listed so `namespace` never touches them)
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'StorageClass',
  'PriorityClass',
]);

function readKustomization(dir) {
  const file = path.join(dir, 'kustomization.yaml');
  if (!fs.existsSync(file)) throw new Error(`${dir}: no kustomization.yaml`);
  const k = YAML.parse(fs.readFileSync(file, 'utf8')) ?? {};
  for (const key of Object.keys(k))
    if (!KNOWN.has(key)) throw new Error(`${file}: field "${key}" is not supported by this renderer`);
  return { file, k };
}

function readResourceFile(file) {
  return YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'))
    .map((d) => {
      if (d.errors.length) throw new Error(`${file}: ${d.errors[0].message}`);
      return d.toJS();
    })
    .filter((o) => o !== null && o !== undefined);
}

/** Renders the kustomization in `dir` to a list of objects. */
function build(dir, { component = false } = {}) {
  const { file, k } = readKustomization(dir);
  const isComponent = k.kind === 'Component';
  if (component !== isComponent)
    throw new Error(
      `${file}: ${component ? 'listed as a component but is not kind: Component' : 'a Component listed as a resource'}`,
    );
  return apply(dir, file, k, []);
}

function apply(dir, file, k, inherited) {
  let objs = [...inherited];
  for (const r of k.resources ?? []) {
    const p = path.resolve(dir, r);
    if (fs.statSync(p).isDirectory()) objs.push(...build(p));
    else objs.push(...readResourceFile(p));
  }
  for (const c of k.components ?? []) {
    const p = path.resolve(dir, c);
    const { file: cf, k: ck } = readKustomization(p);
    if (ck.kind !== 'Component') throw new Error(`${cf}: listed as a component but is not kind: Component`);
    objs = apply(p, cf, ck, objs);
  }
  if (k.namespace)
    for (const o of objs) if (!CLUSTER_SCOPED.has(o.kind)) o.metadata = { ...o.metadata, namespace: k.namespace };
  for (const img of k.images ?? []) {
    let used = false;
    for (const o of objs)
      for (const c of containersOf(o)) {
        const [name, tag] = splitImage(c.image);
        if (name !== img.name) continue;
        used = true;
        c.image = `${img.newName ?? name}${img.newTag ? `:${img.newTag}` : tag ? `:${tag}` : ''}`;
      }
    if (!used) throw new Error(`${file}: image ${img.name} matches no container`);
  }
  for (const r of k.replicas ?? []) {
    const targets = objs.filter((o) => o.metadata?.name === r.name && o.spec && 'replicas' in o.spec);
    if (!targets.length) throw new Error(`${file}: replicas for ${r.name} match no workload`);
    for (const o of targets) o.spec.replicas = r.count;
  }
  for (const p of k.patches ?? []) {
    const t = p.target ?? {};
    if (!p.patch || Object.keys(t).some((key) => !['kind', 'name'].includes(key)))
      throw new Error(`${file}: only inline JSON 6902 patches with a kind/name target are supported`);
    const ops = YAML.parse(p.patch);
    if (!Array.isArray(ops)) throw new Error(`${file}: a patch must be a JSON 6902 list of operations`);
    const targets = objs.filter((o) => (!t.kind || o.kind === t.kind) && (!t.name || o.metadata?.name === t.name));
    if (!targets.length) throw new Error(`${file}: patch target ${JSON.stringify(t)} matches nothing`);
    for (const o of targets) for (const op of ops) jsonPatch(o, op, file);
  }
  return objs;
}

function containersOf(o) {
  const spec = o.spec?.template?.spec;
  return spec ? [...(spec.containers ?? []), ...(spec.initContainers ?? [])] : [];
}

function splitImage(image) {
  const at = image.lastIndexOf(':');
  return at > image.lastIndexOf('/') ? [image.slice(0, at), image.slice(at + 1)] : [image, undefined];
}

/** One RFC 6902 operation (add, replace, remove) applied in place. */
function jsonPatch(obj, op, file) {
  const parts = op.path
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  const last = parts.pop();
  let parent = obj;
  for (const part of parts) {
    parent = Array.isArray(parent) ? parent[Number(part)] : parent?.[part];
    if (parent === undefined) throw new Error(`${file}: patch path ${op.path} does not exist`);
  }
  const exists = Array.isArray(parent) ? Number(last) < parent.length : Object.hasOwn(parent, last);
  switch (op.op) {
    case 'add':
      if (Array.isArray(parent)) parent.splice(last === '-' ? parent.length : Number(last), 0, op.value);
      else parent[last] = op.value;
      return;
    case 'replace':
      if (!exists) throw new Error(`${file}: replace of a missing path ${op.path}`);
      parent[last] = op.value;
      return;
    case 'remove':
      if (!exists) throw new Error(`${file}: remove of a missing path ${op.path}`);
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete parent[last];
      return;
    default:
      throw new Error(`${file}: patch op ${op.op} is not supported`);
  }
}

/** The objects as one YAML stream, as `kubectl kustomize` prints them. */
function toYaml(objs) {
  return objs.map((o) => YAML.stringify(o)).join('---\n');
}

module.exports = { build, toYaml };

if (require.main === module) {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: node tools/lib/kustomize.js <dir with kustomization.yaml>');
    process.exit(2);
  }
  process.stdout.write(toYaml(build(path.resolve(dir))));
}
