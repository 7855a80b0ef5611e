// The daemon's local API: a unix socket in the state dir, root only (mode 0600),
// one JSON request per line. A connection that created a container owns it: when
// that connection closes (the `gpuslice run` client exited or was killed) the
// daemon removes the container, so a killed client leaves nothing behind.
import { createServer, type Server, type Socket } from 'node:net';
import { chmodSync, unlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { GpusliceError, isGpusliceError } from '../errors.js';
import { Request, describeIssues, type Response } from './protocol.js';
import type { Logger } from '../log.js';

const MAX_LINE = 1 << 20;

export interface Session {
  /** the containers this connection created and still owns (objects, not names: a name may be reused) */
  owned: Set<unknown>;
}

export type Handler = (req: Request, session: Session) => Promise<unknown>;

export interface ApiServer {
  close(): Promise<void>;
}

/** Refuses to start when another daemon answers on the socket; removes a stale one. */
async function claimSocket(path: string): Promise<void> {
  const alive = await new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (alive) {
    throw new GpusliceError('GS_ERR_STATE_DIR', `another gpuslice daemon is serving ${path}; stop it or use another --state-dir`, { path });
  }
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new GpusliceError('GS_ERR_STATE_DIR', `cannot remove stale socket ${path}`, { path, cause: err });
  }
}

export async function startApiServer(
  path: string,
  handle: Handler,
  onSessionEnd: (session: Session) => void,
  log: Logger,
): Promise<ApiServer> {
  await claimSocket(path);
  const sockets = new Set<Socket>();
  const server: Server = createServer((sock) => {
    sockets.add(sock);
    const session: Session = { owned: new Set() };
    let buf = '';
    // requests on one connection are answered in order
    let chain = Promise.resolve();
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_LINE && !buf.includes('\n')) {
        write(sock, { id: null, ok: false, error: { code: 'GS_ERR_API_REQUEST', message: `request longer than ${MAX_LINE} bytes` } });
        sock.destroy();
        return;
      }
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim() === '') continue;
        chain = chain.then(() => answer(line, session, handle, log).then((res) => write(sock, res)));
      }
    });
    sock.on('error', () => {});
    sock.on('close', () => {
      sockets.delete(sock);
      void chain.then(() => onSessionEnd(session));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  chmodSync(path, 0o600);
  return {
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

async function answer(line: string, session: Session, handle: Handler, log: Logger): Promise<Response> {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch (err) {
    return { id: null, ok: false, error: { code: 'GS_ERR_API_REQUEST', message: `request is not JSON: ${(err as Error).message}` } };
  }
  const id = raw && typeof raw === 'object' && typeof (raw as { id?: unknown }).id === 'number' ? (raw as { id: number }).id : null;
  const parsed = Request.safeParse(raw);
  if (!parsed.success) {
    return { id, ok: false, error: { code: 'GS_ERR_API_REQUEST', message: `invalid request: ${describeIssues(parsed.error)}` } };
  }
  try {
    return { id, ok: true, result: await handle(parsed.data, session) };
  } catch (err) {
    if (isGpusliceError(err)) return { id, ok: false, error: { code: err.code, message: err.message } };
    log.error({ err }, 'API request failed unexpectedly');
    return { id, ok: false, error: { code: 'GS_ERR_API_REQUEST', message: `internal error: ${(err as Error).message}` } };
  }
}

function write(sock: Socket, res: Response): void {
  if (!sock.destroyed) sock.write(JSON.stringify(res) + '\n');
}
