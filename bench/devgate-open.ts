// Benchmark: open()+close() of an allowed device node from inside a container,
// with no device program, with the gate holding 1 rule, and with 10,000 rules
// over 1,000 containers. The gate's check is a constant number of map lookups,
// so the last two should match. Run as root: node dist/bench/devgate-open.js
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, rmdirSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DeviceGate, cgroupIdOf, parseDeviceRule } from '../src/bpf/index.js';

const BATCHES = 40;
const PER_BATCH = 5000;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** In the child: nanoseconds per open+close, median over batches. */
function measure(path: string): number {
  const perOp: number[] = [];
  for (let b = 0; b < BATCHES; b++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < PER_BATCH; i++) closeSync(openSync(path, 'r'));
    perOp.push(Number(process.hrtime.bigint() - t0) / PER_BATCH);
  }
  return median(perOp);
}

function inCgroup(cgroup: string, path: string): number {
  const self = fileURLToPath(import.meta.url);
  const r = spawnSync('sh', ['-c', `echo $$ > '${cgroup}/cgroup.procs' && exec '${process.execPath}' '${self}' --child '${path}'`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
  return Number(r.stdout.trim());
}

function cgroup2Mount(): string {
  const line = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' - ')[1]?.startsWith('cgroup2 '));
  if (!line) throw new Error('no cgroup2 mount');
  return line.split(' ')[4];
}

async function main(): Promise<void> {
  const parent = join(cgroup2Mount(), `gpuslice-bench-${process.pid}`);
  const dev = mkdtempSync(join(tmpdir(), 'gpuslice-bench-'));
  const pinDir = `/sys/fs/bpf/gpuslice/bench-${process.pid}`;
  mkdirSync(parent);
  const node = join(dev, 'null');
  execFileSync('mknod', [node, 'c', '1', '3']);
  const cgs = Array.from({ length: 1000 }, (_, i) => join(parent, `c${i}`));
  for (const c of cgs) mkdirSync(c);
  const gate = await DeviceGate.open({ pinDir, objectPath: 'build/devgate.bpf.o' });
  // 1:3 is gated like a GPU major here, so every open goes through the rule lookups
  const spec = (rules: string[]) => ({ mode: 'gpu-only' as const, rules: rules.map(parseDeviceRule), gpuMajors: [1] });
  try {
    const none = inCgroup(cgs[0], node);
    await gate.apply(cgs[0], cgroupIdOf(cgs[0]), spec(['c 1:3 rw']));
    const one = inCgroup(cgs[0], node);
    // 10 rules in each of 1,000 containers, the measured one included
    const ten = (i: number) => ['c 1:3 rw', ...Array.from({ length: 9 }, (_, k) => `c ${200 + k}:${i} rw`)];
    for (let i = 0; i < cgs.length; i++) await gate.apply(cgs[i], cgroupIdOf(cgs[i]), spec(ten(i)));
    await gate.reap();
    const many = inCgroup(cgs[0], node);
    await gate.apply(cgs[0], cgroupIdOf(cgs[0]), spec(['c 1:3 rw']));
    const oneAgain = inCgroup(cgs[0], node);
    const fmt = (ns: number) => `${(ns / 1000).toFixed(3)} us`;
    console.log(`open()+close() of an allowed device, median of ${BATCHES} batches of ${PER_BATCH}:`);
    console.log(`  no program                          ${fmt(none)}`);
    console.log(`  gate, 1 rule                        ${fmt(one)}`);
    console.log(`  gate, 10,000 rules / 1,000 cgroups  ${fmt(many)}`);
    console.log(`  gate, 1 rule (again, for drift)     ${fmt(oneAgain)}`);
    console.log(`  ratio 10,000-rule / 1-rule          ${(many / ((one + oneAgain) / 2)).toFixed(3)}`);
    console.log(`  gate overhead over no program       ${fmt(((one + oneAgain) / 2) - none)}`);
  } finally {
    for (const c of cgs) await gate.release(cgroupIdOf(c)).catch(() => undefined);
    await gate.close();
    for (const c of cgs) rmdirSync(c);
    rmdirSync(parent);
    rmSync(dev, { recursive: true, force: true });
    rmSync(pinDir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') {
  measure(process.argv[3]); // warm-up
  process.stdout.write(String(measure(process.argv[3])) + '\n');
} else {
  await main();
}
