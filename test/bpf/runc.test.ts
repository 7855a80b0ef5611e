// runc's device-rule cases, table-driven against the real kernel: each row's
// rules are applied to one container (strict mode: runc's default list first),
// then every probe is made from a process inside it. 'deny' means EPERM; 'allow'
// means the kernel got past the gate (ENXIO, EIO or success).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { need } from '../helpers/capabilities.js';
import { parseDeviceRule } from '../../src/bpf/index.js';
import { makeCgroup, makeNodes, openGate, probe, open, mknodProbe } from './helpers.js';
import type { Probe } from './fixtures/opener.js';

type Want = 'allow' | 'deny';
interface Row {
  name: string;
  rules: string[];
  /** [node name or 'mknod MAJOR:MINOR', access, want] */
  expect: Array<[string, 'r' | 'w' | 'rw' | 'm', Want]>;
}

const ROWS: Row[] = [
  { name: 'deny by default: only the default list', rules: [], expect: [['null', 'rw', 'allow'], ['gpu0', 'r', 'deny'], ['mem', 'r', 'deny'], ['loop0', 'r', 'deny']] },
  { name: 'allow-all resets to allow everything', rules: ['a'], expect: [['gpu0', 'rw', 'allow'], ['mem', 'r', 'allow'], ['loop0', 'r', 'allow'], ['mknod 195:9', 'm', 'allow']] },
  { name: 'deny-all resets, dropping the defaults too', rules: ['c 195:0 rw', 'deny a'], expect: [['null', 'r', 'deny'], ['gpu0', 'r', 'deny']] },
  { name: 'allow-all then deny-all then one rule', rules: ['a', 'deny a', 'c 195:1 r'], expect: [['gpu1', 'r', 'allow'], ['gpu1', 'w', 'deny'], ['null', 'r', 'deny']] },
  { name: 'minor wildcard', rules: ['c 195:* r'], expect: [['gpu0', 'r', 'allow'], ['gpu1', 'r', 'allow'], ['gpu1', 'w', 'deny'], ['render', 'r', 'deny']] },
  { name: 'major wildcard', rules: ['c *:0 rw'], expect: [['gpu0', 'rw', 'allow'], ['card0', 'rw', 'allow'], ['gpu1', 'r', 'deny'], ['render', 'r', 'deny']] },
  { name: 'both wildcards of one type', rules: ['c *:* r'], expect: [['gpu1', 'r', 'allow'], ['mem', 'r', 'allow'], ['mem', 'w', 'deny'], ['loop0', 'r', 'deny']] },
  { name: 'block rules do not open char devices', rules: ['b 7:* rw'], expect: [['loop0', 'rw', 'allow'], ['char7', 'r', 'deny']] },
  { name: 'access must fit one rule', rules: ['c 195:* r', 'c 195:3 w'], expect: [['gpu3', 'r', 'allow'], ['gpu3', 'w', 'allow'], ['gpu3', 'rw', 'deny']] },
  { name: 'repeated rules for one device merge', rules: ['c 195:3 r', 'c 195:3 w'], expect: [['gpu3', 'rw', 'allow']] },
  { name: 'a deny rule removes access from an allow rule', rules: ['c 195:0 rw', 'deny c 195:0 w'], expect: [['gpu0', 'r', 'allow'], ['gpu0', 'w', 'deny'], ['gpu0', 'rw', 'deny']] },
  { name: 'mknod is its own access', rules: ['c 195:* m'], expect: [['mknod 195:9', 'm', 'allow'], ['gpu1', 'r', 'deny']] },
  { name: 'deny exceptions after allow-all', rules: ['a', 'deny c 195:1 rwm'], expect: [['gpu1', 'r', 'deny'], ['gpu0', 'rw', 'allow'], ['null', 'rw', 'allow']] },
  // cgroup v1's rule for a deny exception: any overlap with the request denies
  { name: 'a partial deny exception denies any request it overlaps', rules: ['a', 'deny c 195:1 w'], expect: [['gpu1', 'r', 'allow'], ['gpu1', 'w', 'deny'], ['gpu1', 'rw', 'deny']] },
  { name: 'a wildcard deny exception', rules: ['a', 'deny c 195:* rwm'], expect: [['gpu0', 'r', 'deny'], ['gpu1', 'r', 'deny'], ['render', 'r', 'allow']] },
];

const NODES: Record<string, [number, number] | [number, number, 'b' | 'c']> = {
  null: [1, 3], mem: [1, 1], gpu0: [195, 0], gpu1: [195, 1], gpu3: [195, 3], card0: [226, 0], render: [226, 128], loop0: [7, 0, 'b'], char7: [7, 0],
};

test('runc device-rule cases hold on the real kernel', async (t) => {
  if (!need(t, 'root', 'cgroup2', 'bpf')) return;
  const cg = makeCgroup(t);
  const dev = makeNodes(t, NODES);
  const { gate } = await openGate(t);
  for (const row of ROWS) {
    await gate.apply(cg.path, cg.id, { mode: 'strict', rules: row.rules.map(parseDeviceRule), gpuMajors: [] });
    const probes: Probe[] = row.expect.map(([what, access]) => {
      const m = /^mknod (\d+):(\d+)$/.exec(what);
      return m ? mknodProbe(dev, Number(m[1]), Number(m[2])) : open(`${dev}/${what}`, access as 'r' | 'w' | 'rw');
    });
    const got = (await probe(cg.path, probes)).map((r): Want => (r === 'EPERM' ? 'deny' : 'allow'));
    assert.deepEqual(got, row.expect.map((e) => e[2]), `${row.name}: rules ${JSON.stringify(row.rules)}`);
  }
});

test('punching a hole in a wildcard rule is refused and changes nothing', async (t) => {
  if (!need(t, 'root', 'cgroup2', 'bpf')) return;
  const cg = makeCgroup(t);
  const dev = makeNodes(t, { gpu1: [195, 1] });
  const { gate } = await openGate(t);
  await gate.apply(cg.path, cg.id, { mode: 'strict', rules: [parseDeviceRule('c 195:* r')], gpuMajors: [] });
  await assert.rejects(
    gate.apply(cg.path, cg.id, { mode: 'strict', rules: ['c 195:* rw', 'deny c 195:1 r'].map(parseDeviceRule), gpuMajors: [] }),
    (err: { code?: string; message: string }) => err.code === 'GS_ERR_DEVICE_RULE' && /punch a hole/.test(err.message),
  );
  assert.deepEqual(await probe(cg.path, [open(`${dev}/gpu1`, 'r'), open(`${dev}/gpu1`, 'w')]), ['ENXIO', 'EPERM']);
  assert.equal(gate.inspect(cg.id).generation, 1);
});
