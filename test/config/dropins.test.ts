// Drop-in resolution checked against systemd itself: each tree gives every file a
// unique unknown key in [Service]; `systemd-analyze verify --root` reports each
// one as FILE:LINE: Unknown key, in the order it loaded the files. gpuslice must
// name the same files in the same order.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, symlinkSync, rmSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { tmpdir } from 'node:os';
import { findUnitFiles, resolveUnit, dropinDirNames, UNIT_SEARCH_PATHS } from '../../src/config/dropins.js';
import { isGpusliceError } from '../../src/errors.js';

const haveAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

function needAnalyze(t: TestContext): boolean {
  if (haveAnalyze) return true;
  if (process.env.CI === 'true') throw new Error('CI requires systemd-analyze (apt-get install systemd) for this test');
  t.skip('needs systemd-analyze: not installed');
  return false;
}

type Tree = Record<string, string | { link: string }>;

/** Writes files (relative to the root) into a fresh temp root; removed after the test. */
function makeTree(t: TestContext, files: Tree): string {
  const root = mkdtempSync(join(tmpdir(), `gs-sd-${process.pid}-`));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  for (const [rel, body] of Object.entries(files)) {
    const p = join(root, rel);
    mkdirSync(dirname(p), { recursive: true });
    if (typeof body === 'string') writeFileSync(p, body);
    else symlinkSync(body.link, p);
  }
  return root;
}

let seq = 0;
/** A file body whose [Service] carries a marker systemd will report as unknown. */
const marker = (extra = '') => `[Service]\nXMarker${++seq}=1\n${extra}`;
const unit = () => marker('ExecStart=/bin/true\n');

/** The files systemd loaded for `name`, in load order. */
function systemdLoaded(root: string, name: string): string[] {
  const r = spawnSync('systemd-analyze', ['verify', `--root=${root}`, '--man=no', '--generators=no', name], { encoding: 'utf8' });
  const out = `${r.stdout}\n${r.stderr}`;
  const files: string[] = [];
  for (const line of out.split('\n')) {
    const m = /^(.+):\d+: Unknown key '(XMarker\d+)' in section \[Service\]/.exec(line);
    if (m) files.push(m[1]);
  }
  return files;
}

async function gpusliceLoaded(root: string, name: string): Promise<string[]> {
  const f = await findUnitFiles(name, { root });
  return [...(f.fragment && !f.masked ? [f.fragment] : []), ...f.dropins.filter((d) => !d.masked).map((d) => d.path)];
}

const E = 'etc/systemd/system';
const R = 'run/systemd/system';
const U = 'usr/lib/systemd/system';

const scenarios: Array<{ name: string; unit: string; tree: () => Tree; expect: string[] }> = [
  {
    name: 'unit file precedence: /etc over /run over /usr/lib',
    unit: 'p.service',
    tree: () => ({ [`${E}/p.service`]: unit(), [`${R}/p.service`]: unit(), [`${U}/p.service`]: unit() }),
    expect: [`${E}/p.service`],
  },
  {
    name: 'same-name drop-ins override across directories; order is by file name',
    unit: 'o.service',
    tree: () => ({
      [`${U}/o.service`]: unit(),
      [`${E}/o.service.d/10-x.conf`]: marker(), [`${R}/o.service.d/10-x.conf`]: marker(), [`${U}/o.service.d/10-x.conf`]: marker(),
      [`${R}/o.service.d/20-y.conf`]: marker(), [`${U}/o.service.d/20-y.conf`]: marker(),
      [`${U}/o.service.d/05-z.conf`]: marker(), [`${E}/o.service.d/30.conf`]: marker(),
      [`${E}/o.service.d/B.conf`]: marker(), [`${U}/o.service.d/a.conf`]: marker(), // strcmp: "B" < "a"
      [`${E}/o.service.d/ignored.txt`]: marker(), [`${E}/o.service.d/.hidden.conf`]: marker(),
    }),
    expect: [`${U}/o.service`, `${U}/o.service.d/05-z.conf`, `${E}/o.service.d/10-x.conf`, `${R}/o.service.d/20-y.conf`, `${E}/o.service.d/30.conf`, `${E}/o.service.d/B.conf`, `${U}/o.service.d/a.conf`],
  },
  {
    name: 'dashed prefixes and top-level service.d; a search dir beats specificity, top-level comes last',
    unit: 'foo-bar-baz.service',
    tree: () => ({
      [`${U}/foo-bar-baz.service`]: unit(),
      [`${U}/foo-bar-baz.service.d/10.conf`]: marker(), [`${E}/foo-.service.d/10.conf`]: marker(),
      [`${U}/foo-bar-baz.service.d/20.conf`]: marker(), [`${E}/service.d/20.conf`]: marker(),
      [`${R}/foo-bar-.service.d/30.conf`]: marker(), [`${U}/foo-.service.d/40.conf`]: marker(),
      [`${E}/service.d/50.conf`]: marker(), [`${U}/foo-bar-baz-.service.d/60.conf`]: marker(), [`${U}/-.service.d/61.conf`]: marker(),
      [`${U}/foo.service.d/62.conf`]: marker(), [`${U}/socket.d/63.conf`]: marker(),
    }),
    expect: [`${U}/foo-bar-baz.service`, `${E}/foo-.service.d/10.conf`, `${U}/foo-bar-baz.service.d/20.conf`, `${R}/foo-bar-.service.d/30.conf`, `${U}/foo-.service.d/40.conf`, `${E}/service.d/50.conf`],
  },
  {
    name: 'double dash prefix a--b',
    unit: 'a--b.service',
    tree: () => ({ [`${U}/a--b.service`]: unit(), [`${U}/a--.service.d/1.conf`]: marker(), [`${U}/a-.service.d/2.conf`]: marker(), [`${U}/a.service.d/3.conf`]: marker() }),
    expect: [`${U}/a--b.service`, `${U}/a--.service.d/1.conf`, `${U}/a-.service.d/2.conf`],
  },
  {
    name: 'template instance: the template file, its .d, instance prefixes and template prefixes',
    unit: 'a-b-c@x-y.service',
    tree: () => {
      const t: Tree = { [`${U}/a-b-c@.service`]: unit() };
      ['a-b-c@x-y', 'a-b-c@', 'a-b-@x-y', 'a-b-@', 'a-@x-y', 'a-@', 'a-', 'a-b-', 'a-b-c-', 'a-b', 'x-'].forEach((d, i) => (t[`${U}/${d}.service.d/${String(i).padStart(2, '0')}.conf`] = marker()));
      return t;
    },
    expect: [`${U}/a-b-c@.service`, ...['a-b-c@x-y', 'a-b-c@', 'a-b-@x-y', 'a-b-@', 'a-@x-y', 'a-@', 'a-', 'a-b-'].map((d, i) => `${U}/${d}.service.d/${String(i).padStart(2, '0')}.conf`)],
  },
  {
    name: 'an instance file beats its template, even from a lower directory',
    unit: 'w@1.service',
    tree: () => ({ [`${E}/w@.service`]: unit(), [`${U}/w@1.service`]: unit(), [`${E}/w@.service.d/1.conf`]: marker(), [`${U}/w@1.service.d/1.conf`]: marker() }),
    expect: [`${U}/w@1.service`, `${E}/w@.service.d/1.conf`],
  },
  {
    name: 'masking: a drop-in linked to /dev/null or empty hides its name; others still apply',
    unit: 'm.service',
    tree: () => ({
      [`${U}/m.service`]: unit(),
      [`${U}/m.service.d/10.conf`]: marker(), [`${E}/m.service.d/10.conf`]: { link: '/dev/null' },
      [`${U}/m.service.d/20.conf`]: marker(), [`${R}/m.service.d/20.conf`]: '',
      [`${U}/m.service.d/30.conf`]: marker(),
    }),
    expect: [`${U}/m.service`, `${U}/m.service.d/30.conf`],
  },
  {
    name: 'a masked unit: the file is not loaded, its drop-ins are parsed',
    unit: 'n.service',
    tree: () => ({ [`${U}/n.service`]: unit(), [`${E}/n.service`]: { link: '/dev/null' }, [`${U}/n.service.d/1.conf`]: marker() }),
    expect: [`${U}/n.service.d/1.conf`],
  },
  {
    // /run/systemd/transient and the generator dirs are left out: verify points
    // them at a private temp dir, so only pid 1 reads them (see the next test)
    name: 'the rest of the search path: control, /usr/local/lib, /lib',
    unit: 's.service',
    tree: () => ({
      'lib/systemd/system/s.service': unit(), [`${U}/s.service`]: unit(),
      'usr/local/lib/systemd/system/s.service.d/1.conf': marker(), 'lib/systemd/system/s.service.d/1.conf': marker(),
      'lib/systemd/system/s.service.d/2.conf': marker(), [`${U}/s.service.d/2.conf`]: marker(),
      'etc/systemd/system.control/s.service.d/3.conf': marker(), [`${E}/s.service.d/3.conf`]: marker(),
      'run/systemd/system.control/s.service.d/4.conf': marker(), [`${E}/s.service.d/4.conf`]: marker(),
    }),
    expect: ['lib/systemd/system/s.service', 'usr/local/lib/systemd/system/s.service.d/1.conf', 'lib/systemd/system/s.service.d/2.conf', 'etc/systemd/system.control/s.service.d/3.conf', 'run/systemd/system.control/s.service.d/4.conf'],
  },
];

for (const sc of scenarios) {
  test(`drop-ins as systemd loads them: ${sc.name}`, async (t) => {
    const root = makeTree(t, sc.tree());
    const ours = await gpusliceLoaded(root, sc.unit);
    assert.deepEqual(ours, sc.expect.map((p) => join(root, p)), 'gpuslice view');
    if (!needAnalyze(t)) return;
    assert.deepEqual(systemdLoaded(root, sc.unit), ours, 'systemd-analyze loaded other files');
  });
}

test('transient units (systemd-run) rank as systemd-analyze unit-paths says: above /etc', async (t) => {
  const root = makeTree(t, { 'run/systemd/transient/tr.scope': '[Scope]\n', [`${E}/tr.scope`]: '', 'run/systemd/transient/tr.scope.d/50-x.conf': marker(), [`${E}/tr.scope.d/50-x.conf`]: marker() });
  const f = await findUnitFiles('tr.scope', { root });
  assert.equal(f.fragment, join(root, 'run/systemd/transient/tr.scope'));
  assert.equal(f.masked, false);
  assert.deepEqual(f.dropins, [{ path: join(root, 'run/systemd/transient/tr.scope.d/50-x.conf'), masked: false }]);
});

test('UNIT_SEARCH_PATHS is systemd-analyze unit-paths', (t) => {
  if (!needAnalyze(t)) return;
  const r = spawnSync('systemd-analyze', ['unit-paths'], { encoding: 'utf8' });
  assert.deepEqual(r.stdout.trim().split('\n'), UNIT_SEARCH_PATHS);
});

test('systemd ignores the [X-GPUSlice] section', (t) => {
  if (!needAnalyze(t)) return;
  const root = makeTree(t, { [`${U}/g.service`]: unit(), [`${E}/g.service.d/50-gpu.conf`]: '[X-GPUSlice]\nGPUs=0\nBogus=1\n' });
  const r = spawnSync('systemd-analyze', ['verify', `--root=${root}`, '--man=no', '--generators=no', 'g.service'], { encoding: 'utf8' });
  assert.doesNotMatch(r.stderr, /50-gpu\.conf/);
});

test('dropinDirNames follows systemd recursion', () => {
  assert.deepEqual(dropinDirNames('a-b@x.service'), ['a-b@x.service.d', 'a-b@.service.d', 'a-.service.d', 'a-@x.service.d', 'a-@.service.d']);
});

test('resolveUnit: settings in load order with their sources, errors with file:line in load order', async (t) => {
  const root = makeTree(t, {
    [`${U}/train.service`]: '[Service]\nExecStart=/bin/true\n[X-GPUSlice]\nGPUs=0\nGPUMemoryMax=8G\n',
    [`${E}/train.service.d/50-gpu.conf`]: '[X-GPUSlice]\nGPUs=1,2\nGPUMemoryMax=16G\nGPUComputeWeight=200\n',
    [`${E}/train.service.d/60-more.conf`]: '# comment\n[X-GPUSlice]\nGPUComputeMax=\\\n  60%\nClass=training\nGPUComputeMin=70%\n',
    [`${E}/service.d/70-bad.conf`]: '[X-GPUSlice]\nGPUMemoryMin=-1G\nGpus=3\nGPUComputeWeight=0\n',
  });
  const r = await resolveUnit('train.service', { root });
  assert.deepEqual(r.settings, { gpus: [0, 1, 2], memoryMax: { bytes: 16 * 2 ** 30 }, computeWeight: 200, computeMax: 0.6, class: 'training', computeMin: 0.7 });
  const d50 = join(root, E, 'train.service.d/50-gpu.conf');
  assert.deepEqual(r.sources.gpus?.map((s) => `${s.file}:${s.line}`), [`${join(root, U, 'train.service')}:4`, `${d50}:2`]);
  assert.deepEqual(r.sources.memoryMax, [{ file: d50, line: 3, key: 'GPUMemoryMax', value: '16G' }]);
  const d60 = join(root, E, 'train.service.d/60-more.conf');
  const bad = join(root, E, 'service.d/70-bad.conf');
  assert.deepEqual(r.errors.map((e) => `${e.file}:${e.line}:${e.col}: ${e.message}`), [
    `${bad}:2:1: GPUMemoryMin=: negative size "-1G": sizes are 0 or more`,
    `${bad}:3:1: unknown key "Gpus" in [X-GPUSlice] (did you mean GPUs?): known keys are GPUs, GPUMemoryMin, GPUMemoryMax, GPUComputeWeight, GPUComputeMin, GPUComputeMax, Class, GPUOnMemoryLimit`,
    `${bad}:4:1: GPUComputeWeight=: weight 0 is out of range 1..10000 (as cgroup cpu.weight)`,
    `${d60}:3:1: GPUComputeMin=70% is above GPUComputeMax=60%`,
  ]);
});

test('resolveUnit: empty GPUs= resets the list; all replaces it; unknown unit is an error', async (t) => {
  const root = makeTree(t, {
    [`${U}/r.service`]: '[X-GPUSlice]\nGPUs=0 1\n',
    [`${E}/r.service.d/1.conf`]: '[X-GPUSlice]\nGPUs=\nGPUs=3\n',
    [`${U}/q.service`]: '[X-GPUSlice]\nGPUs=0\nGPUs=all\n',
  });
  assert.deepEqual((await resolveUnit('r.service', { root })).settings.gpus, [3]);
  assert.deepEqual((await resolveUnit('q.service', { root })).settings.gpus, 'all');
  await assert.rejects(resolveUnit('nope.service', { root }), (e: unknown) => isGpusliceError(e, 'GS_ERR_UNIT_NOT_FOUND'));
  await assert.rejects(resolveUnit('bad', { root }), (e: unknown) => isGpusliceError(e, 'GS_ERR_SYSTEMD_NAME'));
});
