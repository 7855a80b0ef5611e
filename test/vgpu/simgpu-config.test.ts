// The simgpu config text and the state file's decoding, without processes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatSimGpuConfig } from '../../src/vgpu/simgpu.js';
import { SIM_STATE_MAGIC, SIM_STATE_SIZE, parseSimGpuState, readSimGpuState } from '../../src/vgpu/simgpu-state.js';
import { isGpusliceError } from '../../src/errors.js';

test('formatSimGpuConfig writes what the C side parses', () => {
  assert.equal(
    formatSimGpuConfig({ count: 2, memoryBytes: 1n << 34n, memoryPerDevice: [undefined, 1 << 30], name: 'sim', kernelDefaultUs: 50 }),
    '# simulated GPUs, written by gpuslice (src/vgpu/simgpu.ts)\ncount=2\nmemory=17179869184\nmemory.1=1073741824\nname=sim\nkernel_default_us=50\n',
  );
});

const badOptions: Array<[string, Parameters<typeof formatSimGpuConfig>[0]]> = [
  ['no devices', { count: 0, memoryBytes: 1 }],
  ['too many devices', { count: 17, memoryBytes: 1 }],
  ['fractional count', { count: 1.5, memoryBytes: 1 }],
  ['zero memory', { count: 1, memoryBytes: 0 }],
  ['unsafe number', { count: 1, memoryBytes: 2 ** 60 }],
  ['absurd memory', { count: 1, memoryBytes: 1n << 63n }],
  ['override past count', { count: 1, memoryBytes: 1, memoryPerDevice: [1, 2] }],
  ['newline in name', { count: 1, memoryBytes: 1, name: 'a\ncount=9' }],
  ['negative kernel time', { count: 1, memoryBytes: 1, kernelDefaultUs: -1 }],
];

for (const [what, opts] of badOptions) {
  test(`formatSimGpuConfig refuses ${what}`, () => {
    assert.throws(() => formatSimGpuConfig(opts), (e) => isGpusliceError(e, 'GS_ERR_INVALID_ARGUMENT'));
  });
}

function blankState(count: number): Buffer {
  const b = Buffer.alloc(SIM_STATE_SIZE);
  b.writeUInt32LE(SIM_STATE_MAGIC, 0);
  b.writeUInt32LE(1, 4);
  b.writeUInt32LE(SIM_STATE_SIZE, 8);
  b.writeUInt32LE(16, 12);
  b.writeUInt32LE(256, 16);
  b.writeUInt32LE(count, 20);
  return b;
}

test('parseSimGpuState decodes devices and live slots', () => {
  const b = blankState(2);
  b.writeBigUInt64LE(1n << 30n, 128 + 64); // device 1 capacity
  b.writeBigUInt64LE(5n, 128 + 64 + 32); // device 1 launches
  const slot = 1152 + 3 * 416;
  b.writeBigUInt64LE((777n << 22n) | 4242n, slot);
  b.writeUInt32LE(4242, slot + 8);
  b.writeBigUInt64LE(777n, slot + 16);
  b.writeBigUInt64LE(1234n, slot + 32 + 8); // memory on device 1
  b.writeBigUInt64LE(99n, slot + 160); // busy on device 0
  const st = parseSimGpuState(b);
  assert.equal(st.count, 2);
  assert.equal(st.devices[1].capacity, 1n << 30n);
  assert.equal(st.devices[1].launches, 5n);
  assert.deepEqual(st.processes, [
    { slot: 3, pid: 4242, startTicks: 777n, attachNs: 0n, memory: [0n, 1234n], busyNs: [99n, 0n], launches: [0n, 0n] },
  ]);
});

const badStates: Array<[string, (b: Buffer) => Buffer]> = [
  ['a truncated file', (b) => b.subarray(0, 1000)],
  ['the wrong magic', (b) => (b.writeUInt32LE(0x12345678, 0), b)],
  ['another version', (b) => (b.writeUInt32LE(2, 4), b)],
  ['no devices', (b) => (b.writeUInt32LE(0, 20), b)],
];

for (const [what, spoil] of badStates) {
  test(`parseSimGpuState refuses ${what}`, () => {
    assert.throws(() => parseSimGpuState(spoil(blankState(1))), (e) => isGpusliceError(e, 'GS_ERR_SIMGPU_STATE'));
  });
}

test('readSimGpuState: null until a process has attached', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gpuslice-simstate-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.equal(await readSimGpuState(dir), null);
  writeFileSync(join(dir, 'state'), '');
  assert.equal(await readSimGpuState(dir), null);
  writeFileSync(join(dir, 'state'), blankState(1));
  assert.equal((await readSimGpuState(dir))!.count, 1);
});
