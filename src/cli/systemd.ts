// `gpuslice systemd show UNIT [--root DIR] [--json]`: a unit's effective
// [X-GPUSlice] settings, and for each value the file and line it came from.
import { parseArgs } from 'node:util';
import { resolveUnit, formatIssue, formatSize, type ResolvedUnit, type MemoryAmount } from '../config/index.js';
import { GpusliceError } from '../errors.js';

const USAGE = 'usage: gpuslice systemd show UNIT [--root DIR] [--json]';

const KEY_OF: Record<string, string> = {
  gpus: 'GPUs',
  memoryMin: 'GPUMemoryMin',
  memoryMax: 'GPUMemoryMax',
  computeWeight: 'GPUComputeWeight',
  computeMin: 'GPUComputeMin',
  computeMax: 'GPUComputeMax',
  class: 'Class',
  onMemoryLimit: 'GPUOnMemoryLimit',
};

function formatValue(field: string, v: unknown): string {
  if (field === 'gpus') return Array.isArray(v) ? v.join(' ') : String(v);
  if (field === 'memoryMin' || field === 'memoryMax') {
    const m = v as MemoryAmount;
    return 'bytes' in m ? formatSize(m.bytes) : `${m.fraction * 100}%`;
  }
  if (field === 'computeMin' || field === 'computeMax') return `${Math.round((v as number) * 10000) / 100}%`;
  return String(v);
}

export function formatUnit(r: ResolvedUnit): string {
  const lines = [`# ${r.unit}${r.masked ? ' (masked)' : ''}`, `# unit file: ${r.fragment ?? '(none)'}`];
  for (const d of r.dropins) lines.push(`# drop-in:   ${d.path}${d.masked ? ' (masked)' : ''}`);
  lines.push('[X-GPUSlice]');
  for (const [field, key] of Object.entries(KEY_OF)) {
    const v = (r.settings as Record<string, unknown>)[field];
    if (v === undefined) continue;
    const from = ((r.sources as Record<string, Array<{ file: string; line: number }>>)[field] ?? []).map((s) => `${s.file}:${s.line}`);
    lines.push(`${key}=${formatValue(field, v)}`.padEnd(32) + `# ${from.join(', ')}`);
  }
  return lines.join('\n') + '\n';
}

export async function systemdCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'show') throw new GpusliceError('GS_ERR_USAGE', USAGE);
  const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, strict: true, options: { root: { type: 'string' }, json: { type: 'boolean' }, 'state-dir': { type: 'string' } } });
  if (positionals.length !== 1) throw new GpusliceError('GS_ERR_USAGE', USAGE);
  const r = await resolveUnit(positionals[0], { root: values.root });
  if (values.json) {
    process.stdout.write(JSON.stringify({ unit: r.unit, fragment: r.fragment, masked: r.masked, dropins: r.dropins, settings: r.settings, sources: r.sources, errors: r.errors.map(formatIssue) }, null, 2) + '\n');
  } else {
    process.stdout.write(formatUnit(r));
    for (const e of r.errors) process.stderr.write(formatIssue(e) + '\n');
  }
  return r.errors.length ? 1 : 0;
}
