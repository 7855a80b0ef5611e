// `gpuslice daemon [--config FILE] [--state-dir DIR] [--cgroup-root PATH]`
import { parseArgs } from 'node:util';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createLogger } from '../log.js';
import { startDaemon, type Daemon } from '../daemon/daemon.js';
import { openPolicy } from '../daemon/policy-source.js';
import { resolveSettings, checkGuarantees } from '../daemon/settings.js';
import { openGpus, type Gpus } from '../daemon/gpus.js';
import { stateDirOf } from './common.js';
import { unitSettings } from '../daemon/units.js';

export async function daemonCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      config: { type: 'string' },
      'state-dir': { type: 'string' },
      'cgroup-root': { type: 'string' },
      // where unit files are read: '/' normally; tests point it at a tree of their own
      'unit-root': { type: 'string' },
    },
  });
  const log = createLogger('gpuslice-daemon');
  const stateDir = stateDirOf(values['state-dir']);
  let daemon: Daemon | undefined;
  const unitRoot = values['unit-root'];
  const policy = await openPolicy(values.config, log, {
    onPolicy: () => void daemon?.containers.reapply().catch((err) => log.error({ err }, 'applying the new policy failed')),
    onUnits: () => void daemon?.containers.refreshUnits((unit) => unitSettings(unit, unitRoot)).catch((err) => log.error({ err }, 'applying the units\' new settings failed')),
    unitRoot,
  });
  try {
    let gpus: Gpus | undefined;
    daemon = await startDaemon({
      stateDir,
      cgroupRoot: values['cgroup-root'],
      resolveSettings: (spec, where, unit) => resolveSettings(policy.current(), gpus!.list, spec, where, unit),
      admit: (next, others) => checkGuarantees(gpus!.list)(next, others),
      resolveUnit: (unit) => unitSettings(unit, unitRoot),
      openEnforcers: async () => {
        gpus = await openGpus(stateDir, policy.current(), log);
        // systemd units read this (EnvironmentFile= of the generated drop-in) to reach the GPUs
        await writeFile(join(stateDir, 'workload.env'), Object.entries(gpus.env).map(([k, v]) => `${k}=${v}\n`).join(''), { mode: 0o644 });
        return gpus.enforcers;
      },
      log,
    });
  } catch (err) {
    policy.close();
    throw err;
  }
  // a change that came while containers were being adopted found no daemon to apply
  // to, and units adopted with their recorded settings may have new drop-ins
  await daemon.containers.reapply().catch((err) => log.error({ err }, 'applying the policy failed'));
  await daemon.containers.refreshUnits((unit) => unitSettings(unit, unitRoot)).catch((err) => log.error({ err }, 'applying the units\' settings failed'));
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      log.info({ signal: sig }, 'stopping');
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  policy.close();
  await daemon.close();
  return 0;
}
