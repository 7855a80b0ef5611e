import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseSubtree } from '../../src/daemon/subtree.js';

test('the managed subtree follows the option, the environment, then systemd delegation', () => {
  const cases: Array<[string | undefined, NodeJS.ProcessEnv, string | null, string]> = [
    [undefined, {}, '/', 'gpuslice'],
    [undefined, {}, '/user.slice/session-1.scope', 'gpuslice'],
    ['/custom/root', {}, '/', 'custom/root'],
    [undefined, { GPUSLICE_CGROUP_ROOT: 'from-env' }, '/', 'from-env'],
    [undefined, { INVOCATION_ID: 'abc' }, '/system.slice/gpuslice.service', 'system.slice/gpuslice.service/containers'],
    // a shell started from a service's ExecStartPre is not the daemon's delegation
    [undefined, { INVOCATION_ID: 'abc' }, '/system.slice', 'gpuslice'],
  ];
  for (const [explicit, env, own, want] of cases) {
    assert.equal(chooseSubtree(explicit, env, own).root, want, JSON.stringify([explicit, env, own]));
  }
});
