// What the daemon keeps of each container across restarts: <state>/containers/NAME.json,
// written atomically. And who owns a container: the `gpuslice run` process, known by
// pid and start time so that a reused pid is never taken for the owner.
import { mkdir, readFile, readdir, rename, unlink, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { UnitGpuSettings } from '../config/index.js';
import type { ContainerSettings, ContainerSpec } from './protocol.js';

export interface ProcessRef {
  pid: number;
  /** field 22 of /proc/PID/stat */
  startTime: string;
}

export interface ContainerRecord {
  spec: ContainerSpec;
  settings?: ContainerSettings;
  createdAt: string;
  owner?: ProcessRef;
  unit?: { name: string; settings: UnitGpuSettings; cgroupPath: string };
}

/** Pure: the start time (field 22) and state (field 3) from /proc/PID/stat text. */
export function parseProcStat(text: string): { state: string; startTime: string } | null {
  // the command name (field 2) may hold spaces and parentheses: split after the last ')'
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  if (rest.length < 20) return null;
  return { state: rest[0], startTime: rest[19] };
}

/** The process as it is now, or null when it is gone (a zombie counts as gone). */
export function processRef(pid: number): ProcessRef | null {
  try {
    const st = parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    if (!st || st.state === 'Z' || st.state === 'X') return null;
    return { pid, startTime: st.startTime };
  } catch {
    return null;
  }
}

export function isAlive(ref: ProcessRef): boolean {
  return processRef(ref.pid)?.startTime === ref.startTime;
}

export class Records {
  constructor(private readonly stateDir: string) {}

  private dir(): string {
    return join(this.stateDir, 'containers');
  }

  async write(name: string, rec: ContainerRecord): Promise<void> {
    await mkdir(this.dir(), { recursive: true, mode: 0o700 });
    const path = join(this.dir(), `${name}.json`);
    const tmp = join(this.dir(), `.${name}.${randomBytes(4).toString('hex')}.tmp`);
    await writeFile(tmp, JSON.stringify(rec) + '\n', { mode: 0o600 });
    await rename(tmp, path);
  }

  async read(name: string): Promise<ContainerRecord | null> {
    try {
      return JSON.parse(await readFile(join(this.dir(), `${name}.json`), 'utf8')) as ContainerRecord;
    } catch {
      return null;
    }
  }

  async remove(name: string): Promise<void> {
    await unlink(join(this.dir(), `${name}.json`)).catch(() => {});
  }

  async names(): Promise<string[]> {
    await mkdir(this.dir(), { recursive: true, mode: 0o700 });
    return (await readdir(this.dir())).filter((f) => f.endsWith('.json') && !f.startsWith('.')).map((f) => f.slice(0, -5));
  }
}
