// Hot reload for real: files in a temp dir, inotify through fs.watch, editors'
// write-then-rename. No timing assertions: each step waits for its event.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, renameSync, mkdirSync } from 'node:fs';
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
