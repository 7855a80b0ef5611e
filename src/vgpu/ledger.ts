// The daemon's side of the ledger (docs/vgpu.md): writes vgpu.limits in place under
// the seqlock the interposer reads, creates vgpu.usage, reads both, and reclaims the
// slots of dead processes. Files: <dir>/vgpu.limits (0644) and <dir>/vgpu.usage (0666),
// where <dir> is <state>/cgroup/<cgroup path>.
import { open, rename, rm, chmod, mkdir, type FileHandle } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';
import { GpusliceError, isGpusliceError } from '../errors.js';
import {
  LIMITS, LIMITS_FILE, USAGE, USAGE_FILE, checkUsage, decodeLimits, encodeLimits, newUsage,
  type Limits, type LimitsRead,
} from './ledger-layout.js';
import { decodeUsage, type Usage } from './ledger-usage.js';

export * from './ledger-layout.js';
export * from './ledger-usage.js';

function ioError(op: string, path: string, cause: unknown): GpusliceError {
  return new GpusliceError('GS_ERR_LEDGER_IO', `cannot ${op} ledger file ${path}: ${(cause as Error)?.message ?? cause}`, {
    op, path, cause,
  });
}

async function readExact(fh: FileHandle, size: number): Promise<Buffer> {
  const b = Buffer.alloc(size + 1);
  const { bytesRead } = await fh.read(b, 0, size + 1, 0);
  return b.subarray(0, bytesRead);
}

/** Writes a whole file under a private name and renames it into place (atomic). */
async function replaceFile(dir: string, name: string, data: Buffer, mode: number): Promise<void> {
  const tmp = join(dir, `.${name}.${process.pid}.${Math.random().toString(36).slice(2)}`);
  try {
    const fh = await open(tmp, 'wx', mode);
    try {
      await fh.write(data, 0, data.length, 0);
      await fh.chmod(mode); // the umask must not narrow it
    } finally {
      await fh.close();
    }
    await rename(tmp, join(dir, name));
  } catch (err) {
    await rm(tmp, { force: true });
    throw ioError('write', join(dir, name), err);
  }
}

/**
 * Writes the container's limits to <dir>/vgpu.limits; refuses bad limits with
 * GS_ERR_LEDGER_LIMITS. A valid existing file is updated in place under the seqlock
 * (generation odd, fields, generation even: three pwrite(2)s) so the interposers'
 * MAP_SHARED mappings see the change without a torn read; a missing or invalid one
 * is replaced atomically. Single writer: the daemon. Returns the new generation.
 */
export async function writeLimits(dir: string, limits: Limits): Promise<bigint> {
  encodeLimits(limits, 0n); // validates before touching anything
  const path = join(dir, LIMITS_FILE);
  await mkdir(dir, { recursive: true }).catch((err) => {
    throw ioError('create directory for', path, err);
  });
  let fh: FileHandle | undefined;
  try {
    fh = await open(path, 'r+');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError('open', path, err);
  }
  if (!fh) {
    await replaceFile(dir, LIMITS_FILE, encodeLimits(limits, 2n), 0o644);
    return 2n;
  }
  try {
    const cur = await readExact(fh, LIMITS.size);
    let gen: bigint;
    try {
      gen = decodeLimits(cur, path).generation;
    } catch (err) {
      if (!isGpusliceError(err, 'GS_ERR_LEDGER_FORMAT')) throw err;
      await fh.close();
      fh = undefined;
      await replaceFile(dir, LIMITS_FILE, encodeLimits(limits, 2n), 0o644);
      return 2n;
    }
    if (gen & 1n) gen += 1n; // a writer died mid-update: start from the next even
    const image = encodeLimits(limits, gen + 2n);
    const g = Buffer.alloc(8);
    g.writeBigUInt64LE(gen + 1n);
    await fh.write(g, 0, 8, LIMITS.gen);
    // the body: ndev and period in the header, then every device record
    await fh.write(image, LIMITS.ndev, 2, LIMITS.ndev);
    await fh.write(image, LIMITS.periodUs, 4, LIMITS.periodUs);
    await fh.write(image, LIMITS.dev, LIMITS.size - LIMITS.dev, LIMITS.dev);
    await fh.write(image, LIMITS.gen, 8, LIMITS.gen);
    return gen + 2n;
  } catch (err) {
    if (err instanceof GpusliceError) throw err;
    throw ioError('update', path, err);
  } finally {
    await fh?.close();
  }
}

/** Reads <dir>/vgpu.limits consistently (retries while the generation is odd or moves). */
export async function readLimits(dir: string): Promise<LimitsRead> {
  const path = join(dir, LIMITS_FILE);
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    throw ioError('open', path, err);
  }
  try {
    for (let tries = 0; tries < 100; tries++) {
      const b = await readExact(fh, LIMITS.size);
      const l = decodeLimits(b, path);
      if (l.generation & 1n) {
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      const again = await readExact(fh, LIMITS.gen + 8);
      if (again.length >= LIMITS.gen + 8 && again.readBigUInt64LE(LIMITS.gen) === l.generation) return l;
    }
    throw new GpusliceError('GS_ERR_LEDGER_FORMAT', `limits ${path} stays mid-update (odd generation): was its writer killed? rewrite it`, { path });
  } catch (err) {
    if (err instanceof GpusliceError) throw err;
    throw ioError('read', path, err);
  } finally {
    await fh.close();
  }
}

/**
 * Makes sure <dir>/vgpu.usage exists and is valid (mode 0666: every process of the
 * container writes it). A valid file is kept, counters and all, so a restarted daemon
 * adopts running processes; an invalid one is replaced.
 */
export async function initUsage(dir: string): Promise<void> {
  const path = join(dir, USAGE_FILE);
  await mkdir(dir, { recursive: true }).catch((err) => {
    throw ioError('create directory for', path, err);
  });
  if (existsSync(path)) {
    try {
      await readUsage(dir);
      await chmod(path, 0o666);
      return;
    } catch (err) {
      if (!isGpusliceError(err, 'GS_ERR_LEDGER_FORMAT')) throw err;
    }
  }
  await replaceFile(dir, USAGE_FILE, newUsage(), 0o666);
}

/** Reads <dir>/vgpu.usage: per-device totals, live slots, stall totals. GS_ERR_LEDGER_FORMAT if invalid. */
export async function readUsage(dir: string): Promise<Usage> {
  const path = join(dir, USAGE_FILE);
  let b: Buffer;
  try {
    const fh = await open(path, 'r');
    try {
      b = await readExact(fh, USAGE.size);
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw ioError('read', path, err);
  }
  checkUsage(b, path);
  return decodeUsage(b, process.hrtime.bigint() / 1000n, path);
}

let reclaimFn: ((dir: string) => number) | undefined;

/** build/libgpuslice-ledger.so, beside dist/ (or GPUSLICE_LEDGER_LIB). */
function ledgerLib(): (dir: string) => number {
  if (reclaimFn) return reclaimFn;
  const path = process.env.GPUSLICE_LEDGER_LIB ??
    fileURLToPath(new URL('../../../build/libgpuslice-ledger.so', import.meta.url));
  try {
    const lib = koffi.load(path);
    reclaimFn = lib.func('int gs_ledger_reclaim(const char *dir)') as (dir: string) => number;
  } catch (err) {
    throw new GpusliceError('GS_ERR_LEDGER_IO', `cannot load ${path}: ${(err as Error).message} (run make)`, { path, cause: err });
  }
  return reclaimFn;
}

/**
 * Reclaims the slots of dead processes in <dir>/vgpu.usage (pid gone, or reused by a
 * process with another start time): their memory is subtracted from the container's
 * counters and their counters folded into its totals, with the same CAS protocol the
 * interposer uses (through libgpuslice-ledger.so). Returns how many were reclaimed.
 */
export function reclaimDeadSlots(dir: string): number {
  const n = ledgerLib()(dir);
  if (n < 0) {
    const path = join(dir, USAGE_FILE);
    if (n === -22) throw new GpusliceError('GS_ERR_LEDGER_FORMAT', `usage ${path} is not a valid ledger file`, { path });
    const errno = Object.entries(constants.errno).find(([, v]) => v === -n)?.[0];
    throw new GpusliceError('GS_ERR_LEDGER_IO', `cannot reclaim slots in ${path}: errno ${-n}`, { op: 'reclaim', path, errno });
  }
  return n;
}
