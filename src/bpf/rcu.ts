// An RCU grace period, awaited from user space. BPF programs run inside RCU
// read-side sections, so once a grace period has passed since a map change, no
// program still holds a value it looked up before the change: only then may
// the old rule generation be deleted without a lookup missing mid-check.
import koffi, { type KoffiFunc } from 'koffi';
import { availableParallelism } from 'node:os';

// membarrier(2) MEMBARRIER_CMD_GLOBAL waits with synchronize_rcu() (kernel 4.3+),
// but only when more than one CPU is online (kernel/sched/membarrier.c), and it
// answers EINVAL on nohz_full kernels: there we fall back to a generous sleep
const MEMBARRIER_CMD_GLOBAL = 1;
const SYS_MEMBARRIER: Record<string, number> = { x64: 324, arm64: 283 };
const FALLBACK_MS = 50;

type SyscallFn = KoffiFunc<(nr: number, cmd: number, flags: number, cpu: number) => number>;
let syscall: SyscallFn | undefined;
let supported: boolean | undefined;

/** Resolves once an RCU grace period has passed (membarrier(2) on a koffi worker thread). */
export async function rcuGracePeriod(): Promise<void> {
  const nr = SYS_MEMBARRIER[process.arch];
  if (nr !== undefined && supported !== false && availableParallelism() > 1) {
    syscall ??= koffi.load('libc.so.6').func('long syscall(long nr, int cmd, unsigned int flags, int cpu)') as unknown as SyscallFn;
    const fn = syscall;
    const rc = await new Promise<number>((res, rej) => fn.async(nr, MEMBARRIER_CMD_GLOBAL, 0, 0, (err: unknown, r: number) => (err ? rej(err) : res(Number(r)))));
    if (rc === 0) {
      supported = true;
      return;
    }
    supported = false;
  }
  await new Promise((r) => setTimeout(r, FALLBACK_MS));
}
