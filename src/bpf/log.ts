// libbpf's messages, routed to the gate's logger (pino-compatible) and kept for
// error messages: a failed load says what the verifier or libbpf complained of.
import koffi from 'koffi';
import { libbpf } from './libbpf.js';

export interface GateLogger {
  error(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
  level?: string;
}

export const silentLogger: GateLogger = { error() {}, warn() {}, info() {}, debug() {} };

let current: GateLogger = silentLogger;
let installed = false;
const recent: string[] = [];

/** libbpf_set_print is process-wide: the logger of the gate opened last wins. */
export function routeLibbpfTo(logger: GateLogger): void {
  current = logger;
  if (installed) return;
  const lib = libbpf();
  const buf = Buffer.alloc(2048);
  // registered once for the life of the process: libbpf keeps the pointer
  const fn = koffi.register((level: number, fmt: unknown, args: unknown) => {
    // LIBBPF_DEBUG (2) is very chatty: format it only when someone listens
    if (level >= 2 && current.level !== 'debug' && current.level !== 'trace') return 0;
    const n = lib.vsnprintf(buf, buf.length, fmt, args);
    const msg = buf.subarray(0, Math.max(0, Math.min(n, buf.length - 1))).toString('utf8').trimEnd();
    if (level < 2) {
      recent.push(msg);
      if (recent.length > 20) recent.shift();
    }
    const obj = { libbpf: true };
    if (level === 0) current.warn(obj, msg);
    else if (level === 1) current.info(obj, msg);
    else current.debug(obj, msg);
    return 0;
  }, koffi.pointer(lib.printCbType));
  lib.setPrint(fn);
  installed = true;
}

/** The libbpf warnings since the last call, for an error message. */
export function takeLibbpfMessages(): string {
  const text = recent.join('; ');
  recent.length = 0;
  return text;
}
