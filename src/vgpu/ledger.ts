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
 * (generation odd, fields, generation even), through libgpuslice-ledger.so: every
 * 8-byte word is one atomic store to a MAP_SHARED mapping, so the interposers'
 * lock-free single-word reads see the old or the new value, never torn bytes (a
 * pwrite(2)'s copy makes no such promise). A missing or invalid file is replaced
 * atomically. Single writer: the daemon. Returns the new generation.
 */
export async function writeLimits(dir: string, limits: Limits): Promise<bigint> {
  encodeLimits(limits, 0n); // validates before touching anything
  const path = join(dir, LIMITS_FILE);
  await ledgerDir(dir, path);
  let fh: FileHandle | undefined;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError('open', path, err);
  }
  if (!fh) {
    await replaceFile(dir, LIMITS_FILE, encodeLimits(limits, 2n), 0o644);
    return 2n;
  }
  let gen: bigint;
  try {
    gen = decodeLimits(await readExact(fh, LIMITS.size), path).generation;
  } catch (err) {
    if (!isGpusliceError(err, 'GS_ERR_LEDGER_FORMAT')) throw err instanceof GpusliceError ? err : ioError('read', path, err);
    await replaceFile(dir, LIMITS_FILE, encodeLimits(limits, 2n), 0o644);
    return 2n;
  } finally {
    await fh.close();
  }
  if (gen & 1n) gen += 1n; // a writer died mid-update: start from the next even
  const rc = ledgerLib().writeLimits(dir, encodeLimits(limits, gen + 2n), LIMITS.size);
  if (rc === -22) {
    // not a valid file any more (replaced or shrunk since we read it): start afresh
    await replaceFile(dir, LIMITS_FILE, encodeLimits(limits, 2n), 0o644);
    return 2n;
  }
  if (rc < 0) throw libError(rc, 'update', path);
  return gen + 2n;
}

/**
 * Creates the ledger directory and the ones above it 0711: a container's processes
 * open their files by a path they know, but cannot list the other containers' ones.
 */
async function ledgerDir(dir: string, path: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o711 });
    await chmod(dir, 0o711);
  } catch (err) {
    throw ioError('create directory for', path, err);
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
  await ledgerDir(dir, path);
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

interface LedgerLib {
  reclaim: (dir: string) => number;
  writeLimits: (dir: string, image: Buffer, len: number) => number;
}
let lib: LedgerLib | undefined;

/** build/libgpuslice-ledger.so, beside dist/ (or GPUSLICE_LEDGER_LIB). */
function ledgerLib(): LedgerLib {
  if (lib) return lib;
  const path = process.env.GPUSLICE_LEDGER_LIB ??
    fileURLToPath(new URL('../../../build/libgpuslice-ledger.so', import.meta.url));
  try {
    const so = koffi.load(path);
    lib = {
      reclaim: so.func('int gs_ledger_reclaim(const char *dir)') as LedgerLib['reclaim'],
      writeLimits: so.func('int gs_ledger_write_limits(const char *dir, const void *image, unsigned int len)') as LedgerLib['writeLimits'],
    };
  } catch (err) {
    throw new GpusliceError('GS_ERR_LEDGER_IO', `cannot load ${path}: ${(err as Error).message} (run make)`, { path, cause: err });
  }
  return lib;
}

/** A -errno of libgpuslice-ledger.so as the error it stands for. */
function libError(rc: number, op: string, path: string): GpusliceError {
  if (rc === -22) return new GpusliceError('GS_ERR_LEDGER_FORMAT', `${path} is not a valid ledger file; recreate it (initUsage/writeLimits)`, { op, path });
  // EBUSY: the file shrank under our mapping (a process of the container truncated it)
  if (rc === -16 || rc === -14) {
    return new GpusliceError('GS_ERR_LEDGER_FORMAT', `${path} was truncated while in use (by a process of the container?); recreate it (initUsage/writeLimits)`, { op, path });
  }
  const errno = Object.entries(constants.errno).find(([, v]) => v === -rc)?.[0];
  return new GpusliceError('GS_ERR_LEDGER_IO', `cannot ${op} ${path}: errno ${errno ?? -rc}`, { op, path, errno });
}

/**
 * Reclaims the slots of dead processes in <dir>/vgpu.usage (pid gone, a zombie, or
 * reused by a process with another start time): their memory is subtracted from the
 * container's counters and their counters folded into its totals, with the same CAS
 * protocol the interposer uses (through libgpuslice-ledger.so). Returns how many were
 * reclaimed; GS_ERR_LEDGER_FORMAT if the file is invalid or was truncated meanwhile.
 */
export function reclaimDeadSlots(dir: string): number {
  const n = ledgerLib().reclaim(dir);
  if (n < 0) throw libError(n, 'reclaim slots in', join(dir, USAGE_FILE));
  return n;
}
