// `gpuslice status [--json]`: the containers, their cgroups and settings.
import { parseArgs } from 'node:util';
import { ApiClient } from '../daemon/api-client.js';
import type { ContainerInfo } from '../daemon/protocol.js';
import { formatSize } from '../config/size.js';
import { stateDirOf } from './common.js';

interface StatusResult {
  root: string;
  containers: ContainerInfo[];
}

export async function statusCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, strict: true, options: { json: { type: 'boolean' }, 'state-dir': { type: 'string' } } });
  const client = await ApiClient.connect(stateDirOf(values['state-dir']));
  try {
    const res = await client.call<StatusResult>('status');
    if (values.json) {
      process.stdout.write(JSON.stringify(res, null, 2) + '\n');
      return 0;
    }
    process.stdout.write(formatStatus(res));
    return 0;
  } finally {
    client.close();
  }
}

const pct = (f: number) => `${Math.round(f * 1000) / 10}%`;

export function formatStatus(res: StatusResult): string {
  const lines = [`managed cgroup root: ${res.root}`, `containers: ${res.containers.length}`];
  for (const c of res.containers) {
    const s = c.settings;
    lines.push(
      '',
      `${c.name}`,
      `  cgroup    ${c.cgroup} (id ${c.id})`,
      `  pids      ${c.pids.length ? c.pids.join(' ') : '-'}`,
      `  gpus      ${s.gpus.length ? s.gpus.join(',') : 'none'}`,
      `  memory    min ${formatSize(s.memoryMin)}, max ${s.memoryMax === null ? 'unlimited' : formatSize(s.memoryMax)} per GPU (${s.onMemoryLimit} at limit)`,
      `  compute   min ${pct(s.computeMin)}, max ${pct(s.computeMax)}, weight ${s.weight}`,
      `  class     ${s.class ?? '-'}`,
      `  denials   ${c.denials}`,
    );
    const u = c.usage ?? {};
    if (u.gpuMemoryBytes !== undefined) {
      const sec = (ns = 0) => `${(ns / 1e9).toFixed(1)} s`;
      lines.push(
        `  gpu use   memory ${formatSize(u.gpuMemoryBytes)}, ${u.gpuLaunches ?? 0} launches, device time ${sec(u.gpuTimeNs)}`,
        `  stall     ${sec(u.gpuStallNs)} waited; some ${sec((u.gpuStallSomeUs ?? 0) * 1000)}, full ${sec((u.gpuStallFullUs ?? 0) * 1000)}`,
      );
    }
  }
  return lines.join('\n') + '\n';
}
