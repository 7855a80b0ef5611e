import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSize, parsePercent, parseMemory, parseDuration, formatSize } from '../../src/config/size.js';

const G = 2 ** 30;

test('parseSize: accepted forms, 1024-based like systemd MemoryMax=', () => {
  const cases: Array<[string | number, number]> = [
    ['0', 0], [0, 0], ['4096', 4096], [4096, 4096], ['512B', 512],
    ['1K', 1024], ['1Ki', 1024], ['1KiB', 1024],
    ['512M', 512 * 2 ** 20], ['512Mi', 512 * 2 ** 20], ['512MiB', 512 * 2 ** 20],
    ['4G', 4 * G], ['4Gi', 4 * G], ['1.5GiB', 1.5 * G], [' 2 G ', 2 * G],
    ['1T', 2 ** 40], ['1P', 2 ** 50],
    ['0.1K', 102], // fractions of a byte round down, as systemd's parse_size
  ];
  for (const [input, bytes] of cases) assert.deepEqual(parseSize(input), { ok: true, value: bytes }, `input ${JSON.stringify(input)}`);
});

test('parseSize: refused forms, each with a precise message', () => {
  const cases: Array<[string | number, RegExp]> = [
    ['', /^empty size/],
    ['-1G', /^negative size "-1G"/],
    [-5, /^negative size -5/],
    ['4GB', /^unknown size unit "GB" in "4GB" \(write G or GiB: sizes are 1024-based\)/],
    ['4X', /^unknown size unit "X"/],
    ['4g', /^unknown size unit "g"/],
    ['G', /^invalid size "G"/],
    ['1e3', /^invalid size "1e3"/],
    [1.5, /^size 1.5 is not a whole number of bytes/],
    [Number.NaN, /^invalid size NaN/],
    ['99999999P', /too large/],
    [Infinity, /too large/],
  ];
  for (const [input, re] of cases) {
    const r = parseSize(input);
    assert.equal(r.ok, false, `input ${String(input)}`);
    if (!r.ok) assert.match(r.message, re, `input ${String(input)}`);
  }
});

test('parsePercent: 0..100% as a fraction', () => {
  const ok: Array<[string, number]> = [['0%', 0], ['25%', 0.25], ['12.5%', 0.125], ['100%', 1], [' 60 % ', 0.6]];
  for (const [i, v] of ok) assert.deepEqual(parsePercent(i), { ok: true, value: v }, i);
  const bad: Array<[string, RegExp]> = [
    ['101%', /^share "101%" is above 100%$/],
    ['-5%', /^negative share "-5%"/],
    ['NaN%', /^invalid share "NaN%"/],
    ['25', /^invalid share "25": expected a percentage/],
    ['%', /^invalid share/],
    ['', /^invalid share/],
  ];
  for (const [i, re] of bad) {
    const r = parsePercent(i);
    assert.equal(r.ok, false, i);
    if (!r.ok) assert.match(r.message, re, i);
  }
});

test('parseMemory: bytes or a share of the GPU', () => {
  assert.deepEqual(parseMemory('16G'), { ok: true, value: { bytes: 16 * G } });
  assert.deepEqual(parseMemory('50%'), { ok: true, value: { fraction: 0.5 } });
  assert.deepEqual(parseMemory(0), { ok: true, value: { bytes: 0 } });
  assert.equal(parseMemory('150%').ok, false);
});

test('parseDuration and formatSize', () => {
  assert.deepEqual(parseDuration('500ms'), { ok: true, value: 500 });
  assert.deepEqual(parseDuration('2s'), { ok: true, value: 2000 });
  assert.deepEqual(parseDuration('1.5s'), { ok: true, value: 1500 });
  assert.deepEqual(parseDuration('1m'), { ok: true, value: 60000 });
  assert.deepEqual(parseDuration(10), { ok: true, value: 10000 });
  assert.equal(parseDuration('10h').ok, false);
  assert.equal(parseDuration('-1s').ok, false);
  assert.equal(formatSize(4 * G), '4G');
  assert.equal(formatSize(1536 * 2 ** 20), '1536M');
  assert.equal(formatSize(1000), '1000');
});
