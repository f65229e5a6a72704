import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { parse as parseYaml } from 'yaml';

/** bosh/ */
export const RELEASE = join(__dirname, '..', '..');
export const RENDERER = join(RELEASE, 'test', 'render.rb');

export interface PropertyDefinition {
  description?: string;
  default?: unknown;
  example?: unknown;
}

export interface JobSpec {
  name: string;
  description?: string;
  templates: Record<string, string>;
  packages: string[];
  consumes?: { name: string; type: string; optional?: boolean }[];
  provides?: { name: string; type: string; properties?: string[] }[];
  properties: Record<string, PropertyDefinition | null>;
}

export function readYaml(file: string): unknown {
  return parseYaml(readFileSync(file, 'utf8'));
}

export function jobSpec(job: string): JobSpec {
  return readYaml(join(RELEASE, 'jobs', job, 'spec')) as JobSpec;
}

/** `spec` as the director hands it to templates. */
export interface InstanceSpec {
  name: string;
  id: string;
  index: number;
  address: string;
  deployment: string;
  ip: string;
  az: string;
  bootstrap: boolean;
}

export interface LinkData {
  instances: { name: string; id: string; index: number; az: string; address: string; bootstrap: boolean }[];
  properties: Record<string, unknown>;
}

export interface RenderContext {
  properties: Record<string, unknown>;
  spec?: Partial<InstanceSpec>;
  links?: Record<string, LinkData>;
}

export type RenderResult =
  { ok: true; dir: string; read(file: string): string } | { ok: false; error: string };

/**
 * Renders every template of `job` with `bosh/test/render.rb` (Ruby's ERB, as the director) into a new temp dir,
 * laid out like /var/vcap/jobs/<job> (config/..., bin/...). The caller removes `dir`.
 */
export function renderJob(job: string, context: RenderContext, parent = tmpdir()): RenderResult {
  const dir = mkdtempSync(join(parent, `render-${job}-`));
  const contextFile = join(dir, '.context.json');
  writeFileSync(contextFile, JSON.stringify(context));
  const out = join(dir, 'job');
  const result = spawnSync('ruby', [RENDERER, join(RELEASE, 'jobs', job), contextFile, out], {
    encoding: 'utf8',
    timeout: 30000,
  });
  if (result.error) throw result.error;
  if (result.status !== 0) return { ok: false, error: result.stderr.trim() };
  return { ok: true, dir: out, read: (file) => readFileSync(join(out, file), 'utf8') };
}

/** Sets `value` at a dotted property name in a nested object (as manifests nest properties). */
export function setProperty(target: Record<string, unknown>, name: string, value: unknown): void {
  const parts = name.split('.');
  const leaf = parts.pop() as string;
  let node = target;
  for (const part of parts) {
    const next = node[part];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[leaf] = value;
}

/** The value at a dotted path in a nested object, or undefined. */
export function getPath(source: unknown, name: string): unknown {
  return name.split('.').reduce<unknown>((node, part) => {
    if (typeof node !== 'object' || node === null || Array.isArray(node)) return undefined;
    return (node as Record<string, unknown>)[part];
  }, source);
}

/**
 * The manifest property paths in `properties` that the job spec does not declare. A nested map is walked until
 * a declared name is reached (a declared property may itself hold a map or a list).
 */
export function undeclaredProperties(spec: JobSpec, properties: unknown, prefix = ''): string[] {
  if (typeof properties !== 'object' || properties === null || Array.isArray(properties)) return [prefix];
  const declared = Object.keys(spec.properties);
  return Object.entries(properties as Record<string, unknown>).flatMap(([key, value]) => {
    const path = prefix ? `${prefix}.${key}` : key;
    if (declared.includes(path)) return [];
    if (declared.some((name) => name.startsWith(`${path}.`))) return undeclaredProperties(spec, value, path);
    return [path];
  });
}
