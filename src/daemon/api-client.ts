// Client side of the daemon's API (see api-server.ts). The connection is kept
// open by `gpuslice run` for the container's lifetime: closing it is how the
// daemon learns the client is gone.
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { GpusliceError, type ErrorCode, ERROR_CODES } from '../errors.js';
import type { Response } from './protocol.js';

export class ApiClient {
  private buf = '';
  private nextId = 1;
  private pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  private constructor(private readonly sock: Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => this.onData(chunk));
    const fail = (err: Error) => {
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    sock.on('error', (err) => fail(new GpusliceError('GS_ERR_API_UNAVAILABLE', `lost the daemon: ${err.message}`, { cause: err })));
    sock.on('close', () => fail(new GpusliceError('GS_ERR_API_UNAVAILABLE', 'the daemon closed the connection')));
  }

  static async connect(stateDir: string): Promise<ApiClient> {
    const path = join(stateDir, 'api.sock');
    const sock = await new Promise<Socket>((resolve, reject) => {
      const s = connect(path);
      s.once('connect', () => resolve(s));
      s.once('error', (err: NodeJS.ErrnoException) => {
        const hint =
          err.code === 'EACCES'
            ? '(the API is root only: run as root)'
            : '(start one with `gpuslice daemon' + (stateDir === '/run/gpuslice' ? '' : ` --state-dir ${stateDir}`) + '`, or `systemctl start gpuslice`)';
        reject(new GpusliceError('GS_ERR_API_UNAVAILABLE', `no gpuslice daemon answers on ${path}: ${err.code ?? err.message} ${hint}`, { path, cause: err }));
      });
    });
    return new ApiClient(sock);
  }

  call<T = unknown>(method: string, params?: unknown): Promise<T> {
    const id = this.nextId++;
    // a write to a closed socket raises nothing: the caller would wait forever
    if (this.sock.destroyed || !this.sock.writable) {
      return Promise.reject(new GpusliceError('GS_ERR_API_UNAVAILABLE', 'the connection to the daemon is closed'));
    }
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.sock.write(JSON.stringify({ id, method, ...(params === undefined ? {} : { params }) }) + '\n');
    });
  }

  close(): void {
    this.sock.end();
    this.sock.destroy();
  }

  private onData(chunk: string): void {
    this.buf += chunk;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const res = JSON.parse(this.buf.slice(0, nl)) as Response;
      this.buf = this.buf.slice(nl + 1);
      const p = res.id === null ? undefined : this.pending.get(res.id);
      if (!p) continue;
      this.pending.delete(res.id as number);
      if (res.ok) p.resolve(res.result);
      else {
        const code = (ERROR_CODES as readonly string[]).includes(res.error.code) ? (res.error.code as ErrorCode) : 'GS_ERR_API_REQUEST';
        p.reject(new GpusliceError(code, res.error.message));
      }
    }
  }
}
