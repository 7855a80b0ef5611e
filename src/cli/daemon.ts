// `gpuslice daemon [--config FILE] [--state-dir DIR] [--cgroup-root PATH]`
import { parseArgs } from 'node:util';
import { createLogger } from '../log.js';
import { startDaemon } from '../daemon/daemon.js';
import { stateDirOf } from './common.js';
import { defaultSettings } from '../daemon/settings.js';

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
  const daemon = await startDaemon({
    stateDir,
    cgroupRoot: values['cgroup-root'],
    resolveSettings: defaultSettings,
    enforcers: [],
    log,
  });
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      log.info({ signal: sig }, 'stopping');
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await daemon.close();
  return 0;
}
