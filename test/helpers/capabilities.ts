// Capability gates for integration tests. A test that needs root, cgroup2 or BPF
// runs for real; it is skipped only when the capability is truly absent, and then
// it says why. Under CI (CI=true) an absent capability is a failure, never a skip:
// CI runs as root on a kernel that has all of them.
import { readFileSync, existsSync } from 'node:fs';
import type { TestContext } from 'node:test';

export interface Capability {
  ok: boolean;
  reason: string;
}

function probeRoot(): Capability {
  const ok = process.getuid?.() === 0;
  return { ok, reason: ok ? '' : 'not running as root' };
}

function probeCgroup2(): Capability {
  let mountinfo = '';
  try {
    mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return { ok: false, reason: 'no /proc/self/mountinfo' };
  }
  const ok = mountinfo.split('\n').some((l) => / - cgroup2 /.test(l));
  return { ok, reason: ok ? '' : 'no cgroup2 filesystem mounted' };
}

function probeBpf(): Capability {
  const root = probeRoot();
  if (!root.ok) return root;
  // cgroup/dev programs need the BPF syscall; its presence shows in /proc/kallsyms-free
  // ways only by trying, which the gate tests do; here we check the minimum: libbpf
  const ok = ['/usr/lib/x86_64-linux-gnu/libbpf.so.1', '/usr/lib/aarch64-linux-gnu/libbpf.so.1', '/usr/lib64/libbpf.so.1', '/usr/lib/libbpf.so.1'].some(existsSync);
  return { ok, reason: ok ? '' : 'libbpf.so.1 not installed' };
}

const cache = new Map<string, Capability>();
function probe(name: 'root' | 'cgroup2' | 'bpf'): Capability {
  let c = cache.get(name);
  if (!c) {
    c = name === 'root' ? probeRoot() : name === 'cgroup2' ? probeCgroup2() : probeBpf();
    cache.set(name, c);
  }
  return c;
}

/**
 * Returns true when the test may run. Otherwise skips it with the reason, or,
 * under CI, fails it: CI must never skip these silently.
 */
export function need(t: TestContext, ...caps: Array<'root' | 'cgroup2' | 'bpf'>): boolean {
  for (const name of caps) {
    const c = probe(name);
    if (c.ok) continue;
    if (process.env.CI === 'true') {
      throw new Error(`CI requires ${name} for this test, but: ${c.reason}`);
    }
    t.skip(`needs ${name}: ${c.reason}`);
    process.stderr.write(`# skipped ${t.name}: needs ${name}: ${c.reason}\n`);
    return false;
  }
  return true;
}
