// Shared set-up for the device gate's kernel tests: a throwaway cgroup on the
// real cgroup2 mount, device nodes made with mknod, a gate on its own pin
// directory, and processes run inside the cgroup. Everything is removed in
// t.after, even when the test fails.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, rmdirSync, existsSync, readdirSync } from 'node:fs';
import { execFileSync, spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import { DeviceGate, cgroupIdOf, type DeviceGateOptions } from '../../src/bpf/index.js';
import type { Probe } from './fixtures/opener.js';
import { uniqueName } from '../helpers/daemon.js';

const here = dirname(fileURLToPath(import.meta.url));
export const REPO = join(here, '../../..');
export const OBJECT = join(REPO, 'build/devgate.bpf.o');
export const OPENER = join(here, 'fixtures/opener.js');
export const LOADER = join(here, 'fixtures/loader.js');

function cgroup2Mount(): string {
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [pre, post] = line.split(' - ');
    if (post?.startsWith('cgroup2 ')) return pre.split(' ')[4];
  }
  throw new Error('no cgroup2 mount');
}

export const unique = (what: string) => uniqueName(`gpuslice-test-${what}`);

function removeCgroup(path: string): void {
  if (!existsSync(path)) return;
  for (const e of readdirSync(path, { withFileTypes: true })) if (e.isDirectory()) removeCgroup(join(path, e.name));
  for (let i = 0; i < 50; i++) {
    for (const pid of readFileSync(join(path, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    try {
      rmdirSync(path);
      return;
    } catch {
      execFileSync('sleep', ['0.02']);
    }
  }
  rmdirSync(path);
}

export interface TestCgroup {
  path: string;
  id: bigint;
  /** creates a sub-cgroup (path relative to this one) */
  sub(rel: string): TestCgroup;
}

export function makeCgroup(t: TestContext): TestCgroup {
  const path = join(cgroup2Mount(), unique('cg'));
  mkdirSync(path);
  t.after(() => removeCgroup(path));
  const wrap = (p: string): TestCgroup => ({
    path: p,
    id: cgroupIdOf(p),
    sub: (rel) => {
      mkdirSync(join(p, rel), { recursive: true });
      return wrap(join(p, rel));
    },
  });
  return wrap(path);
}

/** A temp dir of device nodes: name → [major, minor, type (default 'c')]. */
export function makeNodes(t: TestContext, nodes: Record<string, [number, number] | [number, number, 'b' | 'c']>): string {
  const dir = mkdtempSync(join(tmpdir(), 'gpuslice-dev-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, [ma, mi, type]] of Object.entries(nodes)) execFileSync('mknod', [join(dir, name), type ?? 'c', String(ma), String(mi)]);
  return dir;
}

export async function openGate(t: TestContext, opts: Partial<DeviceGateOptions> = {}): Promise<{ gate: DeviceGate; pinDir: string }> {
  const pinDir = opts.pinDir ?? `/sys/fs/bpf/gpuslice/${unique('pins')}`;
  const gate = await DeviceGate.open({ objectPath: OBJECT, pollMs: 20, ...opts, pinDir });
  t.after(async () => {
    for (const id of gate.gated()) await gate.release(id).catch(() => undefined);
    await gate.close();
    rmSync(pinDir, { recursive: true, force: true });
  });
  return { gate, pinDir };
}

/** Spawns `argv` inside the cgroup (sh writes its pid to cgroup.procs, then execs). */
export function runIn(cgroup: string, argv: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const quoted = argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const child = spawn('sh', ['-c', `echo $$ > '${join(cgroup, 'cgroup.procs')}' && exec ${quoted}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs probes inside the cgroup; returns each probe's answer ('ok', 'EPERM', 'ENXIO', …). */
export async function probe(cgroup: string, probes: Probe[]): Promise<string[]> {
  const r = await runIn(cgroup, [process.execPath, OPENER, JSON.stringify(probes)]);
  if (r.code !== 0) throw new Error(`opener failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as string[];
}

export const open = (path: string, flags: 'r' | 'w' | 'rw' = 'r'): Probe => ({ op: 'open', path, flags });
export const mknodProbe = (dir: string, major: number, minor: number): Probe => ({ op: 'mknod', path: join(dir, `mk-${major}-${minor}-${Math.random().toString(36).slice(2, 8)}`), major, minor });

