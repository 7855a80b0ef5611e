// Runs gpuload --scenario (a memory accounting call sequence, one JSON line) under the
// interposer, or on simgpu alone: the fixture of the interposer-memory-* tests.
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GPULOAD, REPO } from './interposer-harness.js';

export const FAILCALLOC = join(REPO, 'build/fixtures/libfailcalloc.so');

export function missingFixture(): string | null {
  return existsSync(FAILCALLOC) ? null : `${FAILCALLOC} not built (run make)`;
}

export function scenario(args: string[], env: NodeJS.ProcessEnv): Promise<any> {
  return new Promise((resolve, reject) => {
    execFile(GPULOAD, ['--scenario', ...args], { env, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`gpuload --scenario ${args.join(' ')}: ${err.message}: ${stderr}`));
      try {
        resolve(JSON.parse(stdout.split('\n')[0]));
      } catch (e) {
        reject(new Error(`gpuload --scenario ${args.join(' ')} printed ${JSON.stringify(stdout)}: ${stderr}`));
      }
    });
  });
}

/** the environment of simgpu alone: no interposer, no ledger */
export function bare(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const e = { ...env };
  delete e.LD_PRELOAD;
  delete e.GPUSLICE_LEDGER;
  return e;
}

/** makeSim's directory, given a second device of the same size */
export function twoDevices(dir: string, memory: number): void {
  writeFileSync(join(dir, 'simgpu/config'), `count=2\nmemory=${memory}\n`);
  writeFileSync(join(dir, 'simgpu/dev/nvidia1'), '');
}
