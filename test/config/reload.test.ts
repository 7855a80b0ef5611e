// Hot reload for real: files in a temp dir, inotify through fs.watch, editors'
// write-then-rename. No timing assertions: each step waits for its event.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, renameSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { watchConfig, type ReloadEvent } from '../../src/config/reload.js';

function queue() {
  const events: ReloadEvent[] = [];
  let wake: (() => void) | null = null;
  return {
    push(ev: ReloadEvent) { events.push(ev); wake?.(); },
    async next(): Promise<ReloadEvent> {
      while (events.length === 0) await new Promise<void>((r) => (wake = r));
      wake = null;
      return events.shift()!;
    },
  };
}

test('reload: a bad new policy is reported and the last good one stays in force', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), `gs-reload-${process.pid}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, 'defaults: { compute: { weight: 100 } }\n');
  const q = queue();
  const w = await watchConfig({ policyFile: file, debounceMs: 50, onEvent: (ev) => q.push(ev) });
  t.after(() => w.close());
  assert.equal(w.current().defaults.compute.weight, 100);

  // an editor's save: new file, renamed over the old one
  writeFileSync(join(dir, '.policy.yaml.tmp'), 'defaults: { compute: { weight: 300 } }\n');
  renameSync(join(dir, '.policy.yaml.tmp'), file);
  let ev = await q.next();
  assert.ok(ev.kind === 'policy' && ev.ok);
  assert.equal(w.current().defaults.compute.weight, 300);

  writeFileSync(file, 'defaults: { compute: { weight: 0 } }\nbogus: 1\n');
  ev = await q.next();
  assert.ok(ev.kind === 'policy' && !ev.ok);
  assert.deepEqual(ev.errors.map((e) => `${e.line}:${e.col}`), ['1:32', '2:1']);
  assert.equal(ev.policy.defaults.compute.weight, 300);
  assert.equal(w.current().defaults.compute.weight, 300, 'the last good policy stays in force');

  writeFileSync(file, 'defaults: { compute: { weight: 50 } }\n');
  ev = await q.next();
  assert.ok(ev.kind === 'policy' && ev.ok);
  assert.equal(w.current().defaults.compute.weight, 50);

  // a file beside it is no reason to reload
  writeFileSync(join(dir, 'other.yaml'), 'x: 1\n');
  const r = await w.reload();
  assert.ok(r.kind === 'policy' && r.ok);
});

test('reload: a change under a unit directory is announced', async (t) => {
  const root = mkdtempSync(join(tmpdir(), `gs-reload-units-${process.pid}-`));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const file = join(root, 'policy.yaml');
  writeFileSync(file, '');
  const units = join(root, 'etc/systemd/system');
  mkdirSync(join(units, 'train.service.d'), { recursive: true });
  const q = queue();
  const w = await watchConfig({ policyFile: file, debounceMs: 50, unitRoot: root, unitSearchPaths: ['/etc/systemd/system', '/usr/lib/systemd/system'], onEvent: (ev) => q.push(ev) });
  t.after(() => w.close());
  writeFileSync(join(units, 'train.service.d/50-gpu.conf'), '[X-GPUSlice]\nGPUs=0\n');
  const ev = await q.next();
  assert.equal(ev.kind, 'units');
  assert.ok(ev.kind === 'units' && ev.paths.includes(join(units, 'train.service.d/50-gpu.conf')), JSON.stringify(ev));
});

test('reload: the first load must succeed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), `gs-reload-bad-${process.pid}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'p.yaml'), 'nope: 1\n');
  await assert.rejects(watchConfig({ policyFile: join(dir, 'p.yaml'), onEvent: () => {} }), { code: 'GS_ERR_CONFIG_SCHEMA' });
});

/** Waits for the next policy event that loaded weight `w`; other events are skipped. */
async function reloadedTo(q: ReturnType<typeof queue>, w: number): Promise<void> {
  for (;;) {
    const ev = await q.next();
    if (ev.kind === 'policy' && ev.ok && ev.policy.defaults.compute.weight === w) return;
  }
}
const policyWith = (w: number) => `defaults: { compute: { weight: ${w} } }\n`;

// the timeouts only turn "never reloads" into a failure instead of a hang
test('reload: the policy directory deleted and recreated, then a new policy: reloaded', { timeout: 15_000 }, async (t) => {
  const top = mkdtempSync(join(tmpdir(), `gs-reload-dir-${process.pid}-`));
  t.after(() => rmSync(top, { recursive: true, force: true }));
  const dir = join(top, 'etc');
  mkdirSync(dir);
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, policyWith(100));
  const q = queue();
  const w = await watchConfig({ policyFile: file, debounceMs: 50, onEvent: (ev) => q.push(ev) });
  t.after(() => w.close());

  rmSync(dir, { recursive: true });
  mkdirSync(dir);
  writeFileSync(file, policyWith(300));
  await reloadedTo(q, 300);
  assert.equal(w.current().defaults.compute.weight, 300);

  // and the watch is armed again: an ordinary save after that is seen too
  writeFileSync(file, policyWith(400));
  await reloadedTo(q, 400);
  assert.equal(w.current().defaults.compute.weight, 400);
});

test('reload: a ConfigMap-style symlinked policy reloads when "..data" is swapped', { timeout: 15_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), `gs-reload-cm-${process.pid}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // kubelet's layout: policy.yaml -> ..data/policy.yaml, ..data -> ..<timestamp>
  mkdirSync(join(dir, '..v1'));
  writeFileSync(join(dir, '..v1/policy.yaml'), policyWith(100));
  symlinkSync('..v1', join(dir, '..data'));
  symlinkSync('..data/policy.yaml', join(dir, 'policy.yaml'));
  const q = queue();
  const w = await watchConfig({ policyFile: join(dir, 'policy.yaml'), debounceMs: 50, onEvent: (ev) => q.push(ev) });
  t.after(() => w.close());
  assert.equal(w.current().defaults.compute.weight, 100);

  const swap = (version: string, weight: number) => {
    mkdirSync(join(dir, version));
    writeFileSync(join(dir, version, 'policy.yaml'), policyWith(weight));
    symlinkSync(version, join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data')); // atomic swap of the link
  };
  swap('..v2', 200);
  rmSync(join(dir, '..v1'), { recursive: true });
  await reloadedTo(q, 200);
  assert.equal(w.current().defaults.compute.weight, 200);

  swap('..v3', 300);
  rmSync(join(dir, '..v2'), { recursive: true });
  await reloadedTo(q, 300);
});

test('reload: policy.yaml linked to a file elsewhere reloads when that file is saved', { timeout: 15_000 }, async (t) => {
  const top = mkdtempSync(join(tmpdir(), `gs-reload-link-${process.pid}-`));
  t.after(() => rmSync(top, { recursive: true, force: true }));
  mkdirSync(join(top, 'etc'));
  mkdirSync(join(top, 'elsewhere'));
  const target = join(top, 'elsewhere/gpu-policy.yaml');
  writeFileSync(target, policyWith(100));
  symlinkSync(target, join(top, 'etc/policy.yaml'));
  const q = queue();
  const w = await watchConfig({ policyFile: join(top, 'etc/policy.yaml'), debounceMs: 50, onEvent: (ev) => q.push(ev) });
  t.after(() => w.close());

  // an editor's save of the target: new file renamed over it
  writeFileSync(`${target}.tmp`, policyWith(250));
  renameSync(`${target}.tmp`, target);
  await reloadedTo(q, 250);
  assert.equal(w.current().defaults.compute.weight, 250);
});
