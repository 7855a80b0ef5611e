// `gpuslice run [options] -- CMD [ARGS…]`: asks the daemon for a container, then
// starts CMD already inside its cgroup. A tiny /bin/sh launcher moves itself into
// the cgroup (writing 0 to cgroup.procs moves the writer) and only then execs CMD,
// so there is no moment where CMD runs outside. If the move fails, CMD never runs.
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { constants as osConstants } from 'node:os';
import { GpusliceError } from '../errors.js';
import { ApiClient } from '../daemon/api-client.js';
import type { ContainerInfo, ContainerSpec } from '../daemon/protocol.js';
import { parseGpuList, sizeArg, percentArg } from './values.js';
import { EXIT_TOOL_ERROR, stateDirOf } from './common.js';

const LAUNCHER = 'echo 0 > "$0/cgroup.procs" || exit 125; exec "$@"';
const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGCONT'];
// the terminal sends these to its whole foreground process group, the command included
const FROM_TERMINAL: NodeJS.Signals[] = ['SIGINT', 'SIGQUIT', 'SIGWINCH'];
// paths the container's environment prepends to the caller's own
const PATH_LISTS = ['LD_PRELOAD', 'LD_LIBRARY_PATH'];
const REMOVE_TIMEOUT_MS = 5000;

/** Pure: the command's environment: the caller's, with the container's on top. */
export function commandEnv(own: NodeJS.ProcessEnv, container: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...own, ...container };
  for (const k of PATH_LISTS) {
    if (container[k] && own[k]) env[k] = `${container[k]}:${own[k]}`;
  }
  return env;
}

export const RUN_USAGE = `usage: gpuslice run [--name N] [--gpus LIST|all|none] [--memory SIZE] [--memory-min SIZE]
                    [--compute PCT] [--compute-max PCT] [--weight N] [--class NAME]
                    [--on-memory-limit fail|wait] [--state-dir DIR] -- CMD [ARGS…]`;

export function parseRunArgs(argv: string[]): { spec: ContainerSpec; cmd: string[]; stateDir: string } {
  const dash = argv.indexOf('--');
  const opts = dash >= 0 ? argv.slice(0, dash) : argv;
  const { values, positionals } = parseArgs({
    args: opts,
    allowPositionals: true,
    strict: true,
    options: {
      name: { type: 'string' },
      gpus: { type: 'string' },
      memory: { type: 'string' },
      'memory-min': { type: 'string' },
      compute: { type: 'string' },
      'compute-max': { type: 'string' },
      weight: { type: 'string' },
      class: { type: 'string' },
      'on-memory-limit': { type: 'string' },
      'state-dir': { type: 'string' },
    },
  });
  const cmd = dash >= 0 ? argv.slice(dash + 1) : positionals;
  if (dash >= 0 && positionals.length) throw new GpusliceError('GS_ERR_USAGE', `unexpected argument ${positionals[0]} before --\n${RUN_USAGE}`);
  if (cmd.length === 0) throw new GpusliceError('GS_ERR_USAGE', `no command given\n${RUN_USAGE}`);
  const spec: ContainerSpec = { owner: process.pid };
  if (values.name !== undefined) spec.name = values.name;
  if (values.gpus !== undefined) spec.gpus = parseGpuList(values.gpus);
  if (values.memory !== undefined) spec.memory = sizeArg('--memory', values.memory);
  if (values['memory-min'] !== undefined) spec.memoryMin = sizeArg('--memory-min', values['memory-min']);
  if (spec.memory !== undefined && spec.memoryMin !== undefined && spec.memoryMin > spec.memory) {
    throw new GpusliceError('GS_ERR_INVALID_ARGUMENT', `--memory-min ${values['memory-min']} is above --memory ${values.memory}`, { value: values['memory-min'] });
  }
  if (values.compute !== undefined) spec.compute = percentArg('--compute', values.compute);
  if (values['compute-max'] !== undefined) spec.computeMax = percentArg('--compute-max', values['compute-max']);
  if (spec.compute !== undefined && spec.computeMax !== undefined && spec.compute > spec.computeMax) {
    throw new GpusliceError('GS_ERR_INVALID_ARGUMENT', `--compute ${values.compute} is above --compute-max ${values['compute-max']}`, { value: values.compute });
  }
  if (values.weight !== undefined) {
    const w = Number(values.weight);
    if (!Number.isInteger(w) || w < 1 || w > 10000) throw new GpusliceError('GS_ERR_INVALID_ARGUMENT', `--weight ${values.weight}: must be an integer from 1 to 10000`, { value: values.weight });
    spec.weight = w;
  }
  if (values.class !== undefined) spec.class = values.class;
  const oml = values['on-memory-limit'];
  if (oml !== undefined) {
    if (oml !== 'fail' && oml !== 'wait') throw new GpusliceError('GS_ERR_INVALID_ARGUMENT', `--on-memory-limit ${oml}: must be fail or wait`, { value: oml });
    spec.onMemoryLimit = oml;
  }
  return { spec, cmd, stateDir: stateDirOf(values['state-dir']) };
}

export async function runCommand(argv: string[]): Promise<number> {
  const { spec, cmd, stateDir } = parseRunArgs(argv);
  const client = await ApiClient.connect(stateDir);
  let info: ContainerInfo;
  try {
    info = await client.call<ContainerInfo>('create', spec);
  } catch (err) {
    client.close();
    throw err;
  }
  const child = spawn('/bin/sh', ['-c', LAUNCHER, info.cgroupDir, ...cmd], {
    stdio: 'inherit',
    env: commandEnv(process.env, info.env),
  });
  const forward = (sig: NodeJS.Signals) => {
    child.kill(sig);
  };
  // from a terminal, ^C already reaches the command: forwarding it would make it two
  const forwarded = process.stdin.isTTY ? FORWARDED.filter((s) => !FROM_TERMINAL.includes(s)) : FORWARDED;
  const swallow = () => {};
  for (const s of FORWARDED) process.on(s, forwarded.includes(s) ? forward : swallow);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
    child.once('exit', (c, s) => resolve([c, s]));
    child.once('error', () => resolve([EXIT_TOOL_ERROR, null]));
  });
  for (const s of FORWARDED) {
    process.off(s, forward);
    process.off(s, swallow);
  }
  // the daemon may already have removed it (cgroup emptied), or be gone: either is fine
  await Promise.race([client.call('remove', { name: info.name }).catch(() => {}), new Promise((r) => setTimeout(r, REMOVE_TIMEOUT_MS).unref())]);
  client.close();
  if (signal) {
    // die the way the command died, so shells report it the same
    process.kill(process.pid, signal);
    return 128 + (osConstants.signals[signal] ?? 0);
  }
  return code ?? EXIT_TOOL_ERROR;
}
