// `gpuslice validate FILE…`: one file, its errors as FILE:LINE:COL: message.
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { checkPolicy } from './load.js';
import { formatIssue, sortIssues, type ConfigIssue } from './issues.js';
import { parseUnitFile } from './unitfile.js';
import { applyGpuSection, emptyState, finishGpuSection } from './unitsettings.js';

export type FileKind = 'policy' | 'unit';

/** .yaml/.yml is policy; anything else (.conf, .service, .slice, …) a unit file or drop-in. */
export function fileKind(path: string): FileKind {
  const ext = extname(path).toLowerCase();
  return ext === '.yaml' || ext === '.yml' ? 'policy' : 'unit';
}

/** Every problem in the file; empty when it is valid. Never throws. */
export async function validateFileIssues(path: string): Promise<ConfigIssue[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    return [{ file: path, line: 1, col: 1, message: `cannot read: ${(err as Error).message}` }];
  }
  if (fileKind(path) === 'policy') {
    const r = checkPolicy(text, path);
    return r.ok ? [] : r.errors;
  }
  const parsed = parseUnitFile(text, path);
  const st = emptyState();
  applyGpuSection(st, parsed);
  finishGpuSection(st);
  // a drop-in is checked alone: lines systemd would ignore are reported anywhere
  return sortIssues([...parsed.issues.map(({ section: _s, ...i }) => i), ...st.issues]);
}

/** validateFileIssues, formatted as FILE:LINE:COL: message lines. */
export async function validateFile(path: string): Promise<string[]> {
  return (await validateFileIssues(path)).map(formatIssue);
}
