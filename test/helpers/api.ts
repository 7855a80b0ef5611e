// Raw requests on the daemon's API socket. A connection is a session: closing it is
// how a `gpuslice run` lets go of the container it created.
import { connect } from 'node:net';
import { waitUntil } from './daemon.js';

export interface Answer {
  ok: boolean;
  result?: { containers?: Array<{ name: string }>; cgroupDir?: string };
  error?: { code: string; message: string };
  /** closes the connection the request went on (and so removes what it created) */
  close: () => void;
}

export interface Session {
  call(body: object): Promise<Answer>;
  close(): void;
}

/** One connection; requests on it are answered in order, one line each. */
export function openSession(sock: string): Session {
  const s = connect(sock);
  let buf = '';
  let id = 0;
  const waiting: Array<{ resolve: (a: Answer) => void; reject: (e: Error) => void }> = [];
  s.on('data', (b) => {
    buf += b;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      waiting.shift()?.resolve({ ...JSON.parse(line), close: () => s.destroy() });
    }
  });
  const fail = (err: Error) => {
    for (const w of waiting.splice(0)) w.reject(err);
  };
  s.on('error', fail);
  s.on('close', () => fail(new Error('closed without an answer')));
  return {
    call(body) {
      return new Promise((resolve, reject) => {
        waiting.push({ resolve, reject });
        s.write(JSON.stringify({ id: ++id, ...body }) + '\n');
      });
    },
    close: () => s.destroy(),
  };
}

/** One request on a connection of its own, kept open. */
export function request(sock: string, body: object): Promise<Answer> {
  return openSession(sock).call(body);
}

/** Waits until the daemon lists no container. */
export async function noContainers(sock: string): Promise<void> {
  await waitUntil(async () => {
    const st = await request(sock, { method: 'status' });
    st.close();
    return st.result!.containers!.length === 0;
  }, 10_000, 'the containers to go');
}
