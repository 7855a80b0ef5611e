#!/usr/bin/env node
// gpuslice's command line: one small module per command under src/cli/.
import { isGpusliceError } from './errors.js';
import { reportError, EXIT_TOOL_ERROR } from './cli/common.js';

const USAGE = `usage: gpuslice <command> [options]

commands:
  daemon [--config FILE] [--state-dir DIR]   run the manager
  run [options] -- CMD [ARGS…]               run CMD in a new GPU container
  status [--json]                            containers, their cgroups and settings
  validate FILE…                             check policy YAML and systemd drop-ins
  systemd show UNIT [--root DIR] [--json]    a unit's effective [X-GPUSlice] settings
  systemd-generator DIR [DIR DIR]            (run by systemd) adds gpuslice to units with [X-GPUSlice]
  attach --unit NAME                         (from a unit's ExecStartPre) enforce on the unit's cgroup
  demo                                       the daemon on simulated GPUs, end to end

Every command takes --state-dir DIR (or GPUSLICE_STATE_DIR; default /run/gpuslice).
`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'daemon':
      return (await import('./cli/daemon.js')).daemonCommand(rest);
    case 'run':
      return (await import('./cli/run.js')).runCommand(rest);
    case 'status':
      return (await import('./cli/status.js')).statusCommand(rest);
    case 'validate':
      return (await import('./cli/validate.js')).validateCommand(rest);
    case 'systemd':
      return (await import('./cli/systemd.js')).systemdCommand(rest);
    case 'attach':
      return (await import('./cli/attach.js')).attachCommand(rest);
    case 'systemd-generator':
      return (await import('./cli/generator.js')).generatorCommand(rest);
    case 'demo':
      return (await import('./cli/demo.js')).demoCommand(rest);
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE);
      return cmd === undefined ? 2 : 0;
    default:
      process.stderr.write(`gpuslice: unknown command ${cmd}\n${USAGE}`);
      return 2;
  }
}

// should the event loop ever drain before a command returns, that is a failure, not success
process.exitCode = EXIT_TOOL_ERROR;
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    reportError(err);
    // usage errors exit 2, like other Unix tools; anything else is gpuslice's own failure
    process.exitCode = isGpusliceError(err, 'GS_ERR_USAGE') || String((err as { code?: string })?.code).startsWith('ERR_PARSE_ARGS') ? 2 : EXIT_TOOL_ERROR;
  },
);
