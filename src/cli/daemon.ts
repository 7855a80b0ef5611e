// `gpuslice daemon [--config FILE] [--state-dir DIR] [--cgroup-root PATH]`
import { parseArgs } from 'node:util';
import { createLogger } from '../log.js';
import { startDaemon, type Daemon } from '../daemon/daemon.js';
import { openPolicy } from '../daemon/policy-source.js';
import { resolveSettings } from '../daemon/settings.js';
import { openGpus } from '../daemon/gpus.js';
import { stateDirOf } from './common.js';

export async function daemonCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      config: { type: 'string' },
      'state-dir': { type: 'string' },
      'cgroup-root': { type: 'string' },
    },
  });
  const log = createLogger('gpuslice-daemon');
  const stateDir = stateDirOf(values['state-dir']);
  let daemon: Daemon | undefined;
  const policy = await openPolicy(values.config, log, () => void daemon?.containers.reapply());
  try {
    const gpus = await openGpus(stateDir, policy.current(), log);
    daemon = await startDaemon({
      stateDir,
      cgroupRoot: values['cgroup-root'],
      resolveSettings: (spec, cgroupPath) => resolveSettings(policy.current(), gpus.list, spec, cgroupPath),
      enforcers: gpus.enforcers,
      log,
    });
  } catch (err) {
    policy.close();
    throw err;
  }
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
