// The generated drop-in must put attach before every other ExecStartPre= of the
// unit, whatever the unit file and its other drop-ins say, and keep those others
// in the order systemd would run them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate, GENERATED_DROPIN, type GeneratorTarget } from '../../src/config/generator.js';
import { findUnitFiles } from '../../src/config/dropins.js';
import { foldList, readTexts } from '../../src/config/execlist.js';

const target: GeneratorTarget = { gpuslice: ['/usr/bin/gpuslice'], interposer: '/usr/lib/gpuslice/libgpuslice-vgpu.so', stateDir: '/run/gpuslice' };
const ATTACH = '+/usr/bin/gpuslice attach --state-dir /run/gpuslice --unit %n';
const ETC = 'etc/systemd/system';

function tree(t: { after: (fn: () => void) => void }, files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), `gs-gen-${process.pid}-`));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(join(root, p, '..'), { recursive: true });
    writeFileSync(join(root, p), text);
  }
  return root;
}

/** ExecStartPre= as our resolver folds it once the generated drop-ins are installed under /etc. */
async function installedPre(root: string, out: Map<string, string>, unit: string): Promise<string[]> {
  for (const [p, text] of out) {
    mkdirSync(join(root, ETC, p, '..'), { recursive: true });
    writeFileSync(join(root, ETC, p), text);
  }
  const f = await findUnitFiles(unit, { root });
  return foldList(await readTexts([f.fragment!, ...f.dropins.filter((d) => !d.masked).map((d) => d.path)]), 'Service', 'ExecStartPre');
}

const unitText = '[Unit]\nDefaultDependencies=no\n[Service]\nExecStartPre=/bin/echo one\nExecStartPre=-/bin/echo two\nExecStart=/bin/true\n[X-GPUSlice]\nGPUs=0\n';

test('generator: attach runs before the unit\'s own ExecStartPre= lines, which are kept in order', async (t) => {
  const root = tree(t, {
    [`${ETC}/train.service`]: unitText,
    // sorts after the generated drop-in: appends, after attach
    [`${ETC}/train.service.d/10-x.conf`]: '[Service]\nExecStartPre=/bin/echo three\n',
  });
  const out = await generate(root, target);
  assert.deepEqual([...out.keys()], [`train.service.d/${GENERATED_DROPIN}`]);
  const text = out.get(`train.service.d/${GENERATED_DROPIN}`)!;
  const pre = text.split('\n').filter((l) => l.startsWith('ExecStartPre='));
  assert.deepEqual(pre, ['ExecStartPre=', `ExecStartPre=${ATTACH}`, 'ExecStartPre=/bin/echo one', 'ExecStartPre=-/bin/echo two']);

  assert.deepEqual(await installedPre(root, out, 'train.service'), [ATTACH, '/bin/echo one', '-/bin/echo two', '/bin/echo three']);

  if (spawnSync('systemd-analyze', ['--version']).status !== 0) {
    if (process.env.CI === 'true') assert.fail('systemd-analyze is missing under CI');
    t.diagnostic('systemd-analyze missing: the systemd check is skipped');
    return;
  }
  // verify looks for the commands under --root
  for (const exe of ['bin/echo', 'bin/true', 'usr/bin/gpuslice']) {
    mkdirSync(join(root, exe, '..'), { recursive: true });
    writeFileSync(join(root, exe), '#!/bin/sh\n', { mode: 0o755 });
  }
  const v = spawnSync('systemd-analyze', ['verify', `--root=${root}`, '--man=no', '--generators=no', 'train.service'], { encoding: 'utf8' });
  assert.equal(v.stderr, '');
  assert.equal(v.status, 0);
});

test('generator: drop-ins that sort before ours, and resets, are honoured', async (t) => {
  const root = tree(t, {
    [`usr/lib/systemd/system/web.service`]: unitText,
    // sorts before "00-gpuslice.conf": its line runs before the reset, so it is repeated
    [`${ETC}/web.service.d/0-early.conf`]: '[Service]\nExecStartPre=/bin/echo early\n',
    [`${ETC}/web.service.d/10-x.conf`]: '[Service]\nExecStartPre=/bin/echo late\n',
  });
  let out = await generate(root, target);
  assert.deepEqual(await installedPre(root, out, 'web.service'), [ATTACH, '/bin/echo one', '-/bin/echo two', '/bin/echo early', '/bin/echo late']);

  // a drop-in before ours that empties the list: the fragment's lines are gone for systemd too
  const root2 = tree(t, {
    [`${ETC}/web.service`]: unitText,
    [`${ETC}/web.service.d/0-reset.conf`]: '[Service]\nExecStartPre=\nExecStartPre=/bin/echo only\n',
  });
  out = await generate(root2, target);
  assert.deepEqual(await installedPre(root2, out, 'web.service'), [ATTACH, '/bin/echo only']);

  // a drop-in after "00-…" that empties the list would drop attach: ours goes after it
  const root3 = tree(t, {
    [`${ETC}/web.service`]: unitText,
    [`${ETC}/web.service.d/20-reset.conf`]: '[Service]\nExecStartPre=\nExecStartPre=/bin/echo mine\n',
    [`${ETC}/web.service.d/30-after.conf`]: '[Service]\nExecStartPre=/bin/echo after\n',
  });
  out = await generate(root3, target);
  assert.deepEqual([...out.keys()], ['web.service.d/20-reset~gpuslice.conf']);
  assert.deepEqual(await installedPre(root3, out, 'web.service'), [ATTACH, '/bin/echo mine', '/bin/echo after']);
});

test('generator: the unit file alone, no other ExecStartPre=, and a template', async (t) => {
  const root = tree(t, {
    [`${ETC}/plain.service`]: '[Service]\nExecStart=/bin/true\n[X-GPUSlice]\nGPUs=1\n',
    [`${ETC}/worker@.service`]: unitText,
  });
  const out = await generate(root, target);
  assert.deepEqual([...out.keys()].sort(), [`plain.service.d/${GENERATED_DROPIN}`, `worker@.service.d/${GENERATED_DROPIN}`]);
  assert.deepEqual(await installedPre(root, out, 'plain.service'), [ATTACH]);
  assert.deepEqual(await installedPre(root, out, 'worker@3.service'), [ATTACH, '/bin/echo one', '-/bin/echo two']);
  assert.match(readFileSync(join(root, ETC, `plain.service.d/${GENERATED_DROPIN}`), 'utf8'), /^Environment=CUDA_VISIBLE_DEVICES=1$/m);
});
