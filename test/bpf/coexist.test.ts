// Other device programs on the same cgroup (systemd's, a runtime's) keep
// working: the gate attaches as a multi-attach bpf_link and the kernel ANDs the
// answers. A cgroup whose program was attached exclusively refuses the gate,
// and the gate then leaves nothing behind.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { need } from '../helpers/capabilities.js';
import { parseDeviceRule } from '../../src/bpf/index.js';
import { makeCgroup, makeNodes, openGate, probe, open, unique } from './helpers.js';

// a second, independent device program: refuses writes to any 226 device
const OTHER = `
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("cgroup/dev")
int other(struct bpf_cgroup_dev_ctx *ctx)
{
	if (ctx->major == 226 && ((ctx->access_type >> 16) & BPF_DEVCG_ACC_WRITE))
		return 0;
	return 1;
}
char LICENSE[] SEC("license") = "GPL";
`;

/** Builds and loads the second program with clang and bpftool; returns its pin. */
function loadOther(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'gpuslice-other-'));
  const pin = `/sys/fs/bpf/${unique('other')}`;
  t.after(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(pin, { force: true });
  });
  writeFileSync(join(dir, 'other.bpf.c'), OTHER);
  const arch = execFileSync('uname', ['-m'], { encoding: 'utf8' }).trim();
  execFileSync('clang', ['-O2', '-g', '-target', 'bpf', `-I/usr/include/${arch}-linux-gnu`, '-c', join(dir, 'other.bpf.c'), '-o', join(dir, 'other.bpf.o')]);
  execFileSync('bpftool', ['prog', 'load', join(dir, 'other.bpf.o'), pin, 'type', 'cgroup/dev']);
  return pin;
}

function attachOther(t: TestContext, cgroup: string, pin: string, multi: boolean): void {
  execFileSync('bpftool', ['cgroup', 'attach', cgroup, 'device', 'pinned', pin, ...(multi ? ['multi'] : [])]);
  // removing the cgroup detaches it too, if that cleanup runs first
  t.after(() => {
    if (existsSync(cgroup)) execFileSync('bpftool', ['cgroup', 'detach', cgroup, 'device', 'pinned', pin]);
  });
}

test('a second device program on the same cgroup and the gate are both honoured', async (t) => {
  if (!need(t, 'root', 'cgroup2', 'bpf')) return;
  const cg = makeCgroup(t);
  const dev = makeNodes(t, { gpu0: [195, 0], gpu1: [195, 1], render: [226, 128] });
  const pin = loadOther(t);
  attachOther(t, cg.path, pin, true); // as systemd does: BPF_PROG_ATTACH with BPF_F_ALLOW_MULTI
  const { gate } = await openGate(t);
  await gate.apply(cg.path, cg.id, { mode: 'gpu-only', rules: ['c 195:0 rw', 'c 226:128 rw'].map(parseDeviceRule), gpuMajors: [195, 226] });
  assert.deepEqual(
    await probe(cg.path, [open(`${dev}/gpu0`, 'rw'), open(`${dev}/gpu1`, 'r'), open(`${dev}/render`, 'r'), open(`${dev}/render`, 'w')]),
    ['ENXIO', 'EPERM', 'ENXIO', 'EPERM'], // 195:1 refused by the gate, 226 writes by the other program
  );
  await gate.release(cg.id);
  // the other program is still in force after the gate leaves
  assert.deepEqual(await probe(cg.path, [open(`${dev}/gpu1`, 'r'), open(`${dev}/render`, 'w')]), ['ENXIO', 'EPERM']);
});

test('a cgroup held by an exclusive program refuses the gate, which leaves nothing behind', async (t) => {
  if (!need(t, 'root', 'cgroup2', 'bpf')) return;
  const cg = makeCgroup(t);
  const pin = loadOther(t);
  attachOther(t, cg.path, pin, false);
  const { gate, pinDir } = await openGate(t);
  await assert.rejects(
    gate.apply(cg.path, cg.id, { mode: 'gpu-only', rules: [parseDeviceRule('c 195:0 rw')], gpuMajors: [195] }),
    (err: { code?: string; errno?: string; message: string }) =>
      err.code === 'GS_ERR_BPF_ATTACH' && err.errno === 'EPERM' && err.message.includes(cg.path),
  );
  await gate.reap();
  assert.deepEqual(gate.inspect(cg.id), { gated: false, pinned: false, generation: null, ruleEntries: 0 });
  assert.deepEqual(gate.gated(), []);
  void pinDir;
});
