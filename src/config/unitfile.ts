// systemd unit-file syntax (systemd.syntax(7)), pure: text in, assignments out.
// Follows systemd 252's config_parse: comment lines (# or ;) are dropped even
// inside a continuation; an unescaped trailing backslash joins the next line,
// replaced by a space; keys and values are trimmed; values are not unquoted.
import type { ConfigIssue } from './issues.js';

export interface Assignment {
  section: string;
  key: string;
  value: string;
  /** 1-based line where the assignment starts */
  line: number;
}

export interface ParsedUnitFile {
  file: string;
  assignments: Assignment[];
  /** lines systemd would warn about and ignore; `section` is where they stand ('' before any) */
  issues: Array<ConfigIssue & { section: string }>;
}

export function parseUnitFile(text: string, file: string): ParsedUnitFile {
  const assignments: Assignment[] = [];
  const issues: ParsedUnitFile['issues'] = [];
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  let section = '';
  let pending = null as { text: string; line: number } | null;

  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].replace(/\r$/, '');
    const lead = raw.trimStart();
    if (lead.startsWith('#') || lead.startsWith(';')) continue;
    const joined: string = pending ? pending.text + raw : raw;
    const start: number = pending ? pending.line : i + 1;
    if (endsEscaped(joined)) {
      pending = { text: `${joined.slice(0, -1)} `, line: start };
      if (i < lines.length - 1) continue;
      // a backslash on the last line: systemd parses what it has
    }
    pending = null;
    const l = (endsEscaped(joined) ? joined.slice(0, -1) : joined).trim();
    if (l === '') continue;
    const issue = (message: string) => issues.push({ file, line: start, col: 1, message, section });

    if (l.startsWith('[')) {
      if (!l.endsWith(']') || l.length < 3) {
        issue(`invalid section header "${l}": expected [Name]`);
        continue;
      }
      section = l.slice(1, -1);
      continue;
    }
    const eq = l.indexOf('=');
    if (eq < 0) {
      issue(`missing "=" in "${l}": expected Key=Value`);
      continue;
    }
    if (section === '') {
      issue(`assignment "${l}" outside of any section: put it under a [Section] header`);
      continue;
    }
    const key = l.slice(0, eq).trim();
    if (key === '') {
      issue(`empty key in "${l}"`);
      continue;
    }
    assignments.push({ section, key, value: l.slice(eq + 1).trim(), line: start });
  }
  return { file, assignments, issues };
}

/** True when the line ends in a backslash that is not itself escaped. */
function endsEscaped(s: string): boolean {
  let n = 0;
  for (let i = s.length - 1; i >= 0 && s[i] === '\\'; i--) n++;
  return n % 2 === 1;
}
