// `gpuslice attach --unit NAME`: run from a unit's ExecStartPre (which systemd
// starts inside the unit's cgroup), asks the daemon to gate and limit that cgroup
// before ExecStart runs. It fails when no daemon answers, and so does the unit:
// a GPU unit never starts unenforced.
import { parseArgs } from 'node:util';
import { ApiClient } from '../daemon/api-client.js';
import type { ContainerInfo } from '../daemon/protocol.js';
import { cgroupPathOfPid } from '../cgroups/index.js';
import { GpusliceError } from '../errors.js';
import { stateDirOf } from './common.js';

export async function attachCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, strict: true, options: { unit: { type: 'string' }, cgroup: { type: 'string' }, 'state-dir': { type: 'string' } } });
  if (!values.unit) throw new GpusliceError('GS_ERR_USAGE', 'usage: gpuslice attach --unit NAME [--cgroup PATH] [--state-dir DIR] (from the unit\'s ExecStartPre)');
  const cgroup = values.cgroup ?? (await cgroupPathOfPid('self'));
  if (!cgroup || cgroup === '/') throw new GpusliceError('GS_ERR_USAGE', 'gpuslice attach runs inside the unit\'s cgroup (from ExecStartPre=), or give --cgroup PATH');
  const client = await ApiClient.connect(stateDirOf(values['state-dir']));
  try {
    const info = await client.call<ContainerInfo>('attach', { unit: values.unit, cgroup });
    process.stderr.write(`gpuslice: ${info.name} attached: GPUs ${info.settings.gpus.join(',') || 'none'}\n`);
    return 0;
  } finally {
    client.close();
  }
}
