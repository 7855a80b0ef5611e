// Helpers for the launch-path, kill and gate tests: device time measured on the
// simulated GPU itself, and a cuGetProcAddress probe that names the object a
// returned pointer lives in (gpuload --resolve prints only the symbol name, which
// the interposer's wrapper and the driver's entry point share).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readUsage, type Usage } from '../../src/vgpu/ledger.js';
import { readSimGpuState } from '../../src/vgpu/simgpu-state.js';
import { sleep } from './interposer-harness.js';

export { sleep };

/** Device time booked on simulated device 0 so far, ns (0 before any process attached). */
export async function simBusyNs(simgpuDir: string): Promise<number> {
  const s = await readSimGpuState(simgpuDir);
  return s ? Number(s.devices[0].busyNs) : 0;
}

/** Polls the ledger until `pred` holds; returns the usage that satisfied it, or null at the deadline. */
export async function usageWhen(ledger: string, pred: (u: Usage) => boolean, timeoutMs: number, everyMs = 2): Promise<Usage | null> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const u = await readUsage(ledger);
    if (pred(u)) return u;
    if (Date.now() >= end) return null;
    await sleep(everyMs);
  }
}

// Asks cuGetProcAddress_v2 (or the legacy cuGetProcAddress for a name ending in
// "!v1") of dlopen'ed libcuda.so.1, as the CUDA runtime does, and prints which
// object and symbol the answer points into.
const PROBE_C = String.raw`
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
typedef int (*get_v2_t)(const char *, void **, int, unsigned long long, int *);
typedef int (*get_v1_t)(const char *, void **, int, unsigned long long);
int main(int argc, char **argv)
{
	void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL);
	get_v2_t get2;
	get_v1_t get1;

	if (!h) { fprintf(stderr, "dlopen: %s\n", dlerror()); return 1; }
	get2 = (get_v2_t)dlsym(h, "cuGetProcAddress_v2");
	get1 = (get_v1_t)dlsym(h, "cuGetProcAddress");
	if (!get2 || !get1) { fprintf(stderr, "no cuGetProcAddress\n"); return 1; }
	for (int i = 1; i < argc; i++) {
		char name[128], *p;
		int ver = 12040, v1 = 0, status = -1, res;
		unsigned long long flags = 1; /* legacy default stream */
		void *fn = NULL;
		Dl_info di = { 0 };

		snprintf(name, sizeof(name), "%s", argv[i]);
		if ((p = strchr(name, '!'))) { *p = 0; v1 = 1; }
		if ((p = strchr(name, ':'))) { *p = 0; flags = 2; /* per-thread */ }
		if ((p = strchr(name, '@'))) { *p = 0; ver = atoi(p + 1); }
		res = v1 ? get1(name, &fn, ver, flags) : get2(name, &fn, ver, flags, &status);
		if (fn && !(dladdr(fn, &di) && di.dli_saddr == fn))
			di.dli_sname = "?";
		printf("{\"arg\":\"%s\",\"result\":%d,\"status\":%d,\"object\":\"%s\",\"symbol\":\"%s\"}\n",
		       argv[i], res, status, fn && di.dli_fname ? di.dli_fname : "",
		       fn && di.dli_sname ? di.dli_sname : "");
	}
	return 0;
}
`;

export interface ProcAnswer {
  arg: string;
  /** CUresult of the call */
  result: number;
  /** symbolStatus (-1: the legacy call, which has none) */
  status: number;
  /** the object the returned pointer lies in ('' for NULL) */
  object: string;
  symbol: string;
}

/** Compiles the probe with gcc into a temp dir (removed in t.after); returns its path. */
export function buildProcProbe(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), `gs-procprobe-${process.pid}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'probe.c'), PROBE_C);
  execFileSync('gcc', ['-O1', '-o', join(dir, 'probe'), join(dir, 'probe.c'), '-ldl']);
  return join(dir, 'probe');
}

/** NAME[@VER][:ptds][!v1] for each name, in a process with `env`. */
export function procAddress(probe: string, names: string[], env: NodeJS.ProcessEnv): ProcAnswer[] {
  const out = execFileSync(probe, names, { env, encoding: 'utf8' });
  return out.trim().split('\n').map((l) => JSON.parse(l) as ProcAnswer);
}
