/**
 * The part of BOSH's ops-file language (go-patch) our ops files use, applied as `bosh interpolate -o` does:
 * `replace` and `remove`; path tokens `key`, `index`, `-` (append), `name=value` (array item by field), each
 * optionally marked `?` (that token and all after it may be missing: `replace` creates them); `~1` = `/`, `~0` = `~`.
 * Anything else throws, so a test never silently ignores an operation it does not understand.
 */
export interface Operation {
  type: 'replace' | 'remove';
  path: string;
  value?: unknown;
}

type Token =
  | { kind: 'key'; key: string; optional: boolean }
  | { kind: 'index'; index: number; optional: boolean }
  | { kind: 'append' }
  | { kind: 'match'; field: string; value: string; optional: boolean };

function unescape(token: string): string {
  return token.replace(/~1/g, '/').replace(/~0/g, '~');
}

function parsePath(path: string): Token[] {
  if (!path.startsWith('/')) throw new Error(`ops path must start with '/': ${path}`);
  let optional = false;
  return path
    .slice(1)
    .split('/')
    .map((raw): Token => {
      const marked = raw.endsWith('?');
      optional ||= marked;
      const text = unescape(marked ? raw.slice(0, -1) : raw);
      if (text === '-') return { kind: 'append' };
      if (/^\d+$/.test(text)) return { kind: 'index', index: Number(text), optional };
      const eq = text.indexOf('=');
      if (eq > 0) return { kind: 'match', field: text.slice(0, eq), value: text.slice(eq + 1), optional };
      return { kind: 'key', key: text, optional };
    });
}

type Container = Record<string, unknown> | unknown[];

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function emptyFor(next: Token | undefined): Container {
  return next === undefined || next.kind === 'key' ? {} : [];
}

/** Steps into `node` by `token`; creates what is missing when the token is optional. */
function step(node: unknown, token: Token, next: Token | undefined, path: string): unknown {
  switch (token.kind) {
    case 'key': {
      if (!isMap(node)) throw new Error(`${path}: '${token.key}' needs a map`);
      if (!(token.key in node)) {
        if (!token.optional) throw new Error(`${path}: no key '${token.key}'`);
        node[token.key] = emptyFor(next);
      }
      return node[token.key];
    }
    case 'index': {
      if (!Array.isArray(node) || token.index >= node.length)
        throw new Error(`${path}: no index ${token.index}`);
      return node[token.index];
    }
    case 'append':
      throw new Error(`${path}: '-' only as the last token`);
    case 'match': {
      if (!Array.isArray(node)) throw new Error(`${path}: '${token.field}=' needs an array`);
      const found: unknown = node.find((item) => isMap(item) && item[token.field] === token.value);
      if (found !== undefined) return found;
      if (!token.optional) throw new Error(`${path}: no item with ${token.field}=${token.value}`);
      const created = { [token.field]: token.value };
      node.push(created);
      return created;
    }
  }
}

function applyOne(doc: unknown, op: Operation): unknown {
  const tokens = parsePath(op.path);
  const last = tokens.pop();
  if (last === undefined || (last.kind === 'key' && last.key === '' && tokens.length === 0)) {
    if (op.type === 'replace') return structuredClone(op.value);
    throw new Error('cannot remove the document');
  }
  let parent = doc;
  tokens.forEach((token, i) => {
    parent = step(parent, token, tokens[i + 1] ?? last, op.path);
  });
  const value = structuredClone(op.value);
  switch (last.kind) {
    case 'key': {
      if (!isMap(parent)) throw new Error(`${op.path}: '${last.key}' needs a map`);
      if (op.type === 'remove') {
        if (!(last.key in parent) && !last.optional) throw new Error(`${op.path}: no key '${last.key}'`);
        delete parent[last.key];
      } else {
        parent[last.key] = value;
      }
      return doc;
    }
    case 'index': {
      if (!Array.isArray(parent) || last.index >= parent.length) throw new Error(`${op.path}: no index`);
      if (op.type === 'remove') parent.splice(last.index, 1);
      else parent[last.index] = value;
      return doc;
    }
    case 'append': {
      if (!Array.isArray(parent) || op.type === 'remove')
        throw new Error(`${op.path}: '-' appends to an array`);
      parent.push(value);
      return doc;
    }
    case 'match': {
      if (!Array.isArray(parent)) throw new Error(`${op.path}: '${last.field}=' needs an array`);
      const at = parent.findIndex((item) => isMap(item) && item[last.field] === last.value);
      if (op.type === 'remove') {
        if (at < 0 && !last.optional) throw new Error(`${op.path}: no item with ${last.field}=${last.value}`);
        if (at >= 0) parent.splice(at, 1);
      } else if (at >= 0) {
        parent[at] = value;
      } else if (last.optional) {
        parent.push(value);
      } else {
        throw new Error(`${op.path}: no item with ${last.field}=${last.value}`);
      }
      return doc;
    }
  }
}

/** Applies `ops` to a copy of `doc`, in order; throws on an operation or path go-patch would refuse. */
export function applyOps(doc: unknown, ops: readonly Operation[]): unknown {
  return ops.reduce<unknown>((current, op) => {
    if (op.type !== 'replace' && op.type !== 'remove')
      throw new Error(`unsupported op type ${String(op.type)}`);
    return applyOne(current, op);
  }, structuredClone(doc));
}
