// One raw request on the daemon's API socket, kept open: closing the connection is
// how a `gpuslice run` lets go of the container it created.
import { connect } from 'node:net';
import { waitUntil } from './daemon.js';

export interface Answer {
  ok: boolean;
  result?: { containers?: Array<{ name: string }> };
  error?: { code: string; message: string };
  /** closing the connection removes the container it created */
  close: () => void;
}

export function request(sock: string, body: object): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const s = connect(sock);
    let buf = '';
    s.on('data', (b) => {
      buf += b;
      if (buf.includes('\n')) resolve({ ...JSON.parse(buf), close: () => s.destroy() });
    });
    s.on('error', reject);
    s.on('close', () => reject(new Error('closed without an answer')));
    s.write(JSON.stringify({ id: 1, ...body }) + '\n');
  });
}

/** Waits until the daemon lists no container. */
export async function noContainers(sock: string): Promise<void> {
  await waitUntil(async () => {
    const st = await request(sock, { method: 'status' });
    st.close();
    return st.result!.containers!.length === 0;
  }, 10_000, 'the containers to go');
}
