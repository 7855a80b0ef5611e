import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { validateFile } from '../../src/config/validate.js';
import { loadPolicy, parsePolicy, checkPolicy } from '../../src/config/load.js';
import { ConfigError } from '../../src/config/issues.js';
import { isGpusliceError } from '../../src/errors.js';

const repo = fileURLToPath(new URL('../../..', import.meta.url));
const fixtures = join(repo, 'test/fixtures/config');

function errorsOf(text: string, file = 'p.yaml'): string[] {
  const r = checkPolicy(text, file);
  assert.equal(r.ok, false, 'expected errors');
  return r.ok ? [] : r.errors.map((e) => `${e.file}:${e.line}:${e.col}: ${e.message}`);
}

test('the shipped policy loads, classes filled from defaults', async () => {
  const p = await loadPolicy(join(repo, 'config/policy.yaml'));
  assert.deepEqual(p.defaults.compute, { weight: 100, min: 0, max: 1 });
  const t = p.classes.training;
  assert.deepEqual(t.memory, { min: { bytes: 4 * 2 ** 30 }, max: { fraction: 0.75 } });
  assert.equal(t.compute.weight, 200);
  assert.equal(t.onMemoryLimit, 'wait');
  assert.deepEqual(t.match, [{ slice: 'training.slice' }, { unit: 'train-*.service' }, { path: 'train-*' }]);
  assert.equal(p.classes.batch.onMemoryLimit, 'fail'); // from defaults
  assert.equal(p.classes.batch.pressure.windowMs, 10_000);
});

test('every schema error of a file at once, each at its exact position', async () => {
  const file = join(fixtures, 'bad-schema.yaml');
  await assert.rejects(loadPolicy(file), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.code, 'GS_ERR_CONFIG_SCHEMA');
    const got = err.errors.map((e) => `${e.line}:${e.col}: ${e.message}`);
    assert.deepEqual(got, [
      '2:18: defaults.memory.min: negative size "-1G": sizes are 0 or more',
      '3:22: defaults.compute.weight: weight 0 is below 1 (range 1..10000, as cgroup cpu.weight)',
      '7:5: classes.training: unknown key "memroy" (allowed: gpus, memory, compute, pressure, onMemoryLimit, match)',
      '8:20: classes.training.memory.min: min 8G is above max 4G',
      '9:24: classes.training.compute.weight: weight 20000 is above 10000 (range 1..10000, as cgroup cpu.weight)',
      '9:36: classes.training.compute.min: min 70% is above max 60%',
      '10:25: classes.training.pressure.target: share "150%" is above 100%',
      '10:39: classes.training.pressure.window: window "30s" is outside 500ms..10s, the range of a PSI trigger window',
      '11:20: classes.training.onMemoryLimit: expected "fail" (allocation returns out-of-memory) or "wait" (allocation blocks until memory frees)',
      '13:9: classes.training.match[0]: a matcher has exactly one of slice, unit, path, not slice and unit: write one list item for each',
      '15:9: classes.training.match[1]: unknown key "colour" (allowed: slice, unit, path)',
      '15:9: classes.training.match[1]: an empty matcher: give one of slice, unit, path',
      '16:3: classes: invalid name "bad name": a class name is letters, digits, "_", "-", "." and starts with a letter or digit',
    ]);
    assert.ok(err.errors.every((e) => e.file === file));
    assert.equal(err.line, 2);
    assert.match(err.message, /^13 errors in .*bad-schema\.yaml:\n.*bad-schema\.yaml:2:18: /);
    return true;
  });
});

test('YAML syntax errors come from the YAML source positions', async () => {
  const file = join(fixtures, 'bad-syntax.yaml');
  await assert.rejects(loadPolicy(file), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.code, 'GS_ERR_CONFIG_SYNTAX');
    assert.deepEqual(err.errors.map((e) => `${e.line}:${e.col}`), ['3:1', '5:3', '5:6', '5:6']);
    assert.match(err.errors[0].message, /Flow map .* end with a \}/);
    return true;
  });
  assert.deepEqual(errorsOf('a: 1\na: 2\n'), ['p.yaml:2:1: Map keys must be unique']);
  assert.deepEqual(errorsOf('x: "unterminated\n'), errorsOf('x: "unterminated\n')); // stable
  assert.match(errorsOf('defaults:\n\tgpus: all\n')[0], /^p\.yaml:2:1: /);
});

test('wrong types, unknown keys, range errors: table', () => {
  const cases: Array<[string, string[]]> = [
    ['', []], // empty file: an empty policy is valid
    ['defaults: 3\n', ['p.yaml:1:11: defaults: Invalid input: expected object, received number']],
    ['bogus: 1\nalso: 2\n', [
      'p.yaml:1:1: unknown key "bogus" (allowed: devices, defaults, classes)',
      'p.yaml:2:1: unknown key "also" (allowed: devices, defaults, classes)',
    ]],
    ['defaults:\n  compute:\n    weight: "high"\n', ['p.yaml:3:13: defaults.compute.weight: expected an integer weight from 1 to 10000']],
    ['defaults:\n  compute: { weight: 1.5 }\n', ['p.yaml:2:22: defaults.compute.weight: weight must be an integer from 1 to 10000']],
    ['defaults:\n  compute: { min: 0.25 }\n', ['p.yaml:2:19: defaults.compute.min: expected a percentage like 25%']],
    ['defaults:\n  gpus: [0, -1, x]\n', [
      'p.yaml:2:13: defaults.gpus[1]: a GPU index is an integer 0 or more',
      'p.yaml:2:17: defaults.gpus[2]: a GPU index is an integer 0 or more',
    ]],
    ['defaults:\n  gpus: some\n', ['p.yaml:2:9: defaults.gpus: expected "all", "none" or a list of GPU indices like [0, 1]']],
    ['defaults:\n  gpus: [1, 1]\n', ['p.yaml:2:9: defaults.gpus: a GPU is listed twice']],
    ['defaults:\n  memory: { max: 4GB }\n', ['p.yaml:2:18: defaults.memory.max: unknown size unit "GB" in "4GB" (write G or GiB: sizes are 1024-based): expected a size like 4G, 512Mi, 1.5GiB or a number of bytes (K/M/G/T are 1024-based)']],
    ['devices:\n  simulate: { count: 2 }\n', ['p.yaml:2:13: devices.simulate: missing required key "memory"']],
    ['defaults: { memory: { min: 8G } }\nclasses:\n  a: { memory: { max: 4G } }\n', ['p.yaml:3:23: classes.a.memory.max: min 8G is above max 4G (after defaults apply)']],
    ['classes:\n  a:\n    match: slice.slice\n', ['p.yaml:3:12: classes.a.match: expected a list of matchers']],
  ];
  for (const [text, want] of cases) {
    const r = checkPolicy(text, 'p.yaml');
    const got = r.ok ? [] : r.errors.map((e) => `${e.file}:${e.line}:${e.col}: ${e.message}`);
    assert.deepEqual(got, want, `policy:\n${text}`);
  }
});

test('parsePolicy throws a GpusliceError with the list; a missing file is GS_ERR_CONFIG_READ', async () => {
  assert.throws(() => parsePolicy('defaults: { compute: { weight: 0 } }', 'x.yaml'), (e: unknown) => isGpusliceError(e, 'GS_ERR_CONFIG_SCHEMA') && (e as ConfigError).errors.length === 1);
  await assert.rejects(loadPolicy(join(fixtures, 'no-such.yaml')), (e: unknown) => isGpusliceError(e, 'GS_ERR_CONFIG_READ') && e.errno === 'ENOENT');
});

test('simulated devices: what simgpu cannot simulate is refused, as the daemon would', () => {
  const sim = (s: string) => `devices:\n  simulate: { ${s} }\n`;
  const cases: Array<[string, string[]]> = [
    ['count: 16, memory: 1P', []],
    ['count: 1, memory: 1', []],
    ['count: 17, memory: 16G', ['p.yaml:2:22: devices.simulate.count: count 17 is above 16, the most GPUs simgpu simulates (range 1..16)']],
    ['count: 0, memory: 16G', ['p.yaml:2:22: devices.simulate.count: count 0 is below 1 (simulated GPUs: 1..16)']],
    ['count: 2, memory: 0', ['p.yaml:2:33: devices.simulate.memory: memory 0 is not above 0: a simulated GPU needs some memory, like 16G']],
    ['count: 2, memory: 0G', ['p.yaml:2:33: devices.simulate.memory: memory "0G" is not above 0: a simulated GPU needs some memory, like 16G']],
    ['count: 2, memory: 2P', ['p.yaml:2:33: devices.simulate.memory: memory "2P" is above 1P, the most simgpu simulates per GPU']],
  ];
  for (const [s, want] of cases) {
    const r = checkPolicy(sim(s), 'p.yaml');
    assert.deepEqual(r.ok ? [] : r.errors.map((e) => `${e.file}:${e.line}:${e.col}: ${e.message}`), want, s);
  }
  const p = parsePolicy(sim('count: 16, memory: 1P'), 'p.yaml');
  assert.deepEqual(p.devices.simulate, { count: 16, memory: 2 ** 50 });
});

test('class names that are Object.prototype members are ordinary classes; "__proto__" is refused', async (t) => {
  const text = (name: string) => `classes:\n  ${name}:\n    compute: { weight: 300 }\n    match: [{ slice: a.slice }]\n`;
  for (const name of ['constructor', 'toString', 'hasOwnProperty', 'valueOf']) {
    const p = parsePolicy(text(name), 'p.yaml');
    assert.deepEqual(Object.keys(p.classes), [name]);
    assert.ok(Object.hasOwn(p.classes, name));
    assert.equal(p.classes[name].compute.weight, 300);
    assert.deepEqual(p.classes[name].match, [{ slice: 'a.slice' }]);
  }
  // a class the policy lacks is not found on the prototype either
  const p = parsePolicy(text('gold'), 'p.yaml');
  assert.equal(p.classes.constructor, undefined);
  assert.equal(p.classes.toString, undefined);

  // zod drops a "__proto__" key silently: it must be an error, not a vanished class
  const want = ['p.yaml:2:3: classes: invalid name "__proto__": a class name is letters, digits, "_", "-", "." and starts with a letter or digit'];
  const r = checkPolicy(text('__proto__'), 'p.yaml');
  assert.deepEqual(r.ok ? [] : r.errors.map((e) => `${e.file}:${e.line}:${e.col}: ${e.message}`), want);
  assert.throws(() => parsePolicy(text('__proto__'), 'p.yaml'), (e: unknown) => isGpusliceError(e, 'GS_ERR_CONFIG_SCHEMA'));
  // with other errors in the file, all are reported at once
  const both = checkPolicy(`${text('__proto__')}  other:\n    compute: { weight: 0 }\n`, 'p.yaml');
  assert.equal(both.ok ? 0 : both.errors.length, 2);

  // the validate path: gpuslice validate FILE
  const dir = mkdtempSync(join(tmpdir(), `gs-proto-${process.pid}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'ok.yaml'), text('constructor'));
  writeFileSync(join(dir, 'bad.yaml'), text('__proto__'));
  assert.deepEqual(await validateFile(join(dir, 'ok.yaml')), []);
  assert.deepEqual(await validateFile(join(dir, 'bad.yaml')), [want[0].replace('p.yaml', join(dir, 'bad.yaml'))]);
});
