// `gpuslice systemd-generator NORMAL_DIR [EARLY_DIR LATE_DIR]`: systemd runs it
// at boot and on daemon-reload (install it in /usr/lib/systemd/system-generators/).
// It must not fail the boot: problems go to stderr (the journal), exit is 0.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { generate } from '../config/generator.js';
import { INTERPOSER_LIB } from '../paths.js';
import { GpusliceError } from '../errors.js';
import { DEFAULT_STATE_DIR } from './common.js';

export async function generatorCommand(argv: string[]): Promise<number> {
  let root = '/';
  const dirs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--root') root = argv[++i] ?? '/';
    else dirs.push(argv[i]);
  }
  if (dirs.length !== 1 && dirs.length !== 3) {
    throw new GpusliceError('GS_ERR_USAGE', 'usage: gpuslice systemd-generator NORMAL_DIR [EARLY_DIR LATE_DIR] [--root DIR]');
  }
  const files = await generate(root, {
    gpuslice: [process.execPath, process.argv[1]],
    interposer: INTERPOSER_LIB,
    stateDir: process.env.GPUSLICE_STATE_DIR ?? DEFAULT_STATE_DIR,
  });
  for (const [rel, text] of files) {
    const path = join(dirs[0], rel);
    try {
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, text);
    } catch (err) {
      process.stderr.write(`gpuslice-generator: cannot write ${path}: ${(err as Error).message}\n`);
    }
  }
  return 0;
}
