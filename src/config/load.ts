// Policy YAML to a typed Policy, or every error in the file at once, each at the
// position in the source where it is (FILE:LINE:COL), for syntax and schema alike.
import { readFile } from 'node:fs/promises';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { GpusliceError } from '../errors.js';
import { ConfigError, sortIssues, type ConfigIssue } from './issues.js';
import { PolicySchema, completePolicy, type Policy } from './policy.js';

type Path = ReadonlyArray<PropertyKey>;

/** Reads and parses a policy file. Throws GS_ERR_CONFIG_READ, or ConfigError (GS_ERR_CONFIG_SYNTAX / _SCHEMA). */
export async function loadPolicy(file: string): Promise<Policy> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new GpusliceError('GS_ERR_CONFIG_READ', `cannot read policy ${file}: ${(cause as Error).message}`, { op: 'read', path: file, file, cause });
  }
  return parsePolicy(text, file);
}

/** Parses policy text; `file` names it in errors. Throws ConfigError listing every error. */
export function parsePolicy(text: string, file: string): Policy {
  const r = checkPolicy(text, file);
  if (r.ok) return r.policy;
  throw new ConfigError(r.syntax ? 'GS_ERR_CONFIG_SYNTAX' : 'GS_ERR_CONFIG_SCHEMA', r.errors);
}

export type PolicyCheck = { ok: true; policy: Policy } | { ok: false; syntax: boolean; errors: ConfigIssue[] };

/** Like parsePolicy, without throwing. */
export function checkPolicy(text: string, file: string): PolicyCheck {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, keepSourceTokens: true });
  const at = (offset: number, message: string): ConfigIssue => {
    const { line, col } = lc.linePos(offset);
    return { file, line, col, message };
  };

  if (doc.errors.length > 0) {
    // the schema would only add noise about a half-parsed tree
    const errors = doc.errors.map((e) => at(e.pos[0], e.message.replace(/\s+at line \d+, column \d+.*$/s, '')));
    return { ok: false, syntax: true, errors: sortIssues(errors) };
  }

  const js: unknown = doc.toJS() ?? {};
  const errors: ConfigIssue[] = [];
  // zod's record skips a "__proto__" key without a word (strict objects do report
  // it), so a class of that name would silently vanish
  const classes = (js as { classes?: unknown }).classes;
  if (classes !== null && typeof classes === 'object' && Object.hasOwn(classes, '__proto__')) {
    errors.push(at(locate(doc, ['classes', '__proto__'], true).offset, 'classes: invalid name "__proto__": a class name is letters, digits, "_", "-", "." and starts with a letter or digit'));
  }
  const parsed = PolicySchema.safeParse(js);
  if (!parsed.success) {
    for (const iss of parsed.error.issues) errors.push(...issueAt(doc, iss, at));
    return { ok: false, syntax: false, errors: sortIssues(errors) };
  }
  if (errors.length > 0) return { ok: false, syntax: false, errors: sortIssues(errors) };
  const { policy, problems } = completePolicy(parsed.data);
  for (const p of problems) {
    const { offset } = locate(doc, p.path);
    errors.push(at(offset, `${dotted(p.path)}: ${p.message}`));
  }
  if (errors.length > 0) return { ok: false, syntax: false, errors: sortIssues(errors) };
  return { ok: true, policy };
}

function issueAt(doc: Document, iss: z.core.$ZodIssue, at: (offset: number, m: string) => ConfigIssue): ConfigIssue[] {
  if (iss.code === 'unrecognized_keys') {
    // one error per key, each at the key itself
    return iss.keys.map((k) => {
      const { offset } = locate(doc, [...iss.path, k], true);
      return at(offset, `${dotted(iss.path)}${iss.path.length ? ': ' : ''}${iss.message.replace(/^unknown keys? .*? \(allowed/, `unknown key "${k}" (allowed`)}`);
    });
  }
  if (iss.code === 'invalid_union') {
    // a branch whose type matched but failed deeper (a list with a bad item) says
    // more than "expected one of": report its issues instead
    const deeper = iss.errors.filter((branch) => branch.length > 0 && branch.every((b) => b.path.length > 0));
    if (deeper.length === 1) return deeper[0].flatMap((b) => issueAt(doc, { ...b, path: [...iss.path, ...b.path] } as z.core.$ZodIssue, at));
  }
  if (iss.code === 'invalid_key') {
    const { offset } = locate(doc, iss.path, true);
    const name = String(iss.path[iss.path.length - 1]);
    return [at(offset, `${dotted(iss.path.slice(0, -1))}: invalid name "${name}": ${iss.issues.map((i) => i.message).join('; ')}`)];
  }
  const { offset, found } = locate(doc, iss.path);
  if (!found && iss.path.length > 0) {
    // the schema wants a key the file does not have: point at the object that lacks it
    const parent = iss.path.slice(0, -1);
    return [at(offset, `${parent.length ? `${dotted(parent)}: ` : ''}missing required key "${String(iss.path[iss.path.length - 1])}"`)];
  }
  return [at(offset, `${iss.path.length > 0 ? `${dotted(iss.path)}: ` : ''}${iss.message}`)];
}

/**
 * The source offset of the node at `path`: the value's start, or with `key` the
 * key's start. Where the path leaves the document (a missing key), the deepest
 * node that exists.
 */
function locate(doc: Document, path: Path, key = false): { offset: number; found: boolean } {
  let node: unknown = doc.contents;
  let offset = (node as Node | null)?.range?.[0] ?? 0;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    let next: unknown;
    let keyOffset: number | undefined;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(seg));
      if (pair) {
        next = pair.value;
        keyOffset = (pair.key as Node | null)?.range?.[0];
      }
    } else if (isSeq(node) && typeof seg === 'number') {
      next = node.items[seg];
    }
    if (next === undefined && keyOffset === undefined) return { offset, found: false };
    const last = i === path.length - 1;
    if (last && key && keyOffset !== undefined) return { offset: keyOffset, found: true };
    const r = (next as Node | null)?.range;
    offset = r ? r[0] : keyOffset ?? offset;
    node = next;
  }
  return { offset, found: true };
}

function dotted(path: Path): string {
  return path.map((s, i) => (typeof s === 'number' ? `[${s}]` : `${i ? '.' : ''}${String(s)}`)).join('');
}
