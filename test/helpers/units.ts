// A tree of unit files, and a daemon that reads its units from it, with an empty
// cgroup for the unit as systemd makes it: the world of the systemd-unit tests.
import type { TestContext } from 'node:test';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestDaemon, cleanupDaemon, uniqueName } from './daemon.js';
import { findCgroup2Mount } from '../../src/cgroups/index.js';

export function unitTree(): string {
  const root = mkdtempSync(join(tmpdir(), 'gs-units-'));
  const etc = join(root, 'etc/systemd/system');
  const lib = join(root, 'usr/lib/systemd/system');
  mkdirSync(join(etc, 'web.service.d'), { recursive: true });
  mkdirSync(lib, { recursive: true });
  writeFileSync(join(etc, 'train.service'), '[Service]\nExecStart=/bin/true\n[X-GPUSlice]\nGPUs=0\nGPUMemoryMax=1G\n');
  writeFileSync(join(lib, 'web.service'), '[Service]\nExecStart=/bin/true\n');
  writeFileSync(join(etc, 'web.service.d/50-gpu.conf'), '[X-GPUSlice]\nGPUs=1\n');
  writeFileSync(join(lib, 'plain.service'), '[Service]\nExecStart=/bin/true\n');
  writeFileSync(join(lib, 'worker@.service'), '[Service]\nExecStart=/bin/true\n[X-GPUSlice]\nGPUs=none\n');
  writeFileSync(join(etc, 'bad.service'), '[Service]\nExecStart=/bin/true\n[X-GPUSlice]\nGPUs=0\nGPUComputeWeight=0\n');
  return root;
}

/** A daemon reading units from a tree of its own, and an empty cgroup for the unit, as systemd makes it. */
export async function unitWorld(t: TestContext, unit: string) {
  const mount = findCgroup2Mount();
  const root = unitTree();
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const d = await startTestDaemon({ args: ['--unit-root', root] });
  const slice = uniqueName('gs-ext') + '.slice';
  const cg = join(mount, slice, unit);
  mkdirSync(cg, { recursive: true });
  t.after(async () => {
    await d.stop();
    spawnSync('/bin/sh', ['-c', `echo 1 > ${cg}/cgroup.kill 2>/dev/null; sleep 0.2; rmdir ${cg} ${join(mount, slice)}`]);
    cleanupDaemon(d, mount);
  });
  const node = (i: number) => join(d.stateDir, 'simgpu/dev', `nvidia${i}`);
  const inUnit = (script: string) => spawnSync('/bin/sh', ['-c', `echo 0 > ${cg}/cgroup.procs && ${script}`], { encoding: 'utf8' });
  return { root, d, slice, cg, node, inUnit };
}
