// bpffs is mounted when it is missing: tried for real in a private mount namespace
// where /sys/fs/bpf has been unmounted, so the host's mount is never touched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { need } from '../helpers/capabilities.js';

const BPFFS = fileURLToPath(new URL('../../src/bpf/bpffs.js', import.meta.url));

test('ensureBpffs mounts bpffs at /sys/fs/bpf when there is none, then makes the pin dir', (t) => {
  if (!need(t, 'root', 'bpf')) return;
  const script = `
    import { ensureBpffs, bpffsMounts } from ${JSON.stringify(BPFFS)};
    import { readFileSync, existsSync } from 'node:fs';
    const before = bpffsMounts(readFileSync('/proc/self/mountinfo', 'utf8'));
    ensureBpffs('/sys/fs/bpf/gpuslice/ns-test/links');
    const after = bpffsMounts(readFileSync('/proc/self/mountinfo', 'utf8'));
    console.log(JSON.stringify({ before, after, dir: existsSync('/sys/fs/bpf/gpuslice/ns-test/links') }));
  `;
  // unmount every bpffs at /sys/fs/bpf inside the namespace first
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', `while umount /sys/fs/bpf 2>/dev/null; do :; done; exec "${process.execPath}" --input-type=module -e '${script.replace(/'/g, "'\\''")}'`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim());
  assert.deepEqual(out.before.filter((m: string) => m === '/sys/fs/bpf'), [], 'no bpffs at the start');
  assert.ok(out.after.includes('/sys/fs/bpf'), 'bpffs mounted');
  assert.equal(out.dir, true);
});

test('a pin dir outside bpffs is refused with the reason', async () => {
  const { ensureBpffs } = await import('../../src/bpf/bpffs.js');
  assert.throws(() => ensureBpffs('/tmp/not-bpffs/pins'), (e: { code?: string; message: string }) => e.code === 'GS_ERR_BPFFS' && /is not on a bpf filesystem: put it under \/sys\/fs\/bpf/.test(e.message));
});
