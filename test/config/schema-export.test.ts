import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { policyJsonSchema } from '../../src/config/schema-export.js';

const repo = fileURLToPath(new URL('../../..', import.meta.url));

test('config/policy.schema.json matches the zod schema', () => {
  const shipped = readFileSync(join(repo, 'config/policy.schema.json'), 'utf8');
  assert.ok(
    shipped === policyJsonSchema(),
    'config/policy.schema.json is stale; regenerate it: npx tsc -p . && node dist/src/config/schema-export.js > config/policy.schema.json',
  );
});

test('the schema describes what users write and refuses unknown keys', () => {
  const s = JSON.parse(policyJsonSchema());
  assert.equal(s.additionalProperties, false);
  assert.deepEqual(Object.keys(s.properties), ['devices', 'defaults', 'classes']);
  const w = s.properties.defaults.properties.compute.properties.weight;
  assert.deepEqual([w.type, w.minimum, w.maximum], ['integer', 1, 10000]);
});

test('the schema carries simgpu\'s limits and says how path matchers match', () => {
  const s = JSON.parse(policyJsonSchema());
  const count = s.properties.devices.properties.simulate.properties.count;
  assert.deepEqual([count.minimum, count.maximum], [1, 16]);
  const matcher = s.properties.classes.additionalProperties.properties.match.items;
  assert.match(matcher.properties.path.description, /relative to the daemon's managed subtree \("train-\*"/);
  assert.match(matcher.properties.path.description, /full path from the cgroup2 root \("gpuslice\/train-\*"\)/);
});
