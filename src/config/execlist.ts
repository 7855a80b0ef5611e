// List settings (ExecStartPre= and kin) as systemd folds them across a unit's
// files: each assignment appends, an empty one empties the list (systemd.service(5)).
import { readFile } from 'node:fs/promises';
import { parseUnitFile } from './unitfile.js';

/** The fold of `section`.`key` over `texts`, in load order. */
export function foldList(texts: Array<{ text: string; file: string }>, section: string, key: string): string[] {
  let list: string[] = [];
  for (const { text, file } of texts) {
    for (const a of parseUnitFile(text, file).assignments) {
      if (a.section !== section || a.key !== key) continue;
      list = a.value === '' ? [] : [...list, a.value];
    }
  }
  return list;
}

/** True when a file empties the list somewhere: whatever came before it is gone. */
export function resetsList(text: string, file: string, section: string, key: string): boolean {
  return parseUnitFile(text, file).assignments.some((a) => a.section === section && a.key === key && a.value === '');
}

/** Reads `paths` (unreadable ones count as empty, as systemd skips them) for foldList. */
export async function readTexts(paths: string[]): Promise<Array<{ text: string; file: string }>> {
  return Promise.all(paths.map(async (file) => ({ file, text: await readFile(file, 'utf8').catch(() => '') })));
}
