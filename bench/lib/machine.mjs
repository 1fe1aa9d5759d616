// What the run was measured on: printed with the results and written to docs/benchmarks.md.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { capture } from './proc.mjs';

function cpuModel() {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1].trim().replace(/\s+/g, ' ');
  } catch { /* not Linux */ }
  return os.cpus()[0]?.model ?? 'unknown CPU';
}

function ramGiB() {
  try {
    const m = /^MemTotal:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    if (m) return Number(m[1]) / 1024 / 1024;
  } catch { /* not Linux */ }
  return os.totalmem() / 2 ** 30;
}

export function machineInfo(workDir) {
  return {
    cores: Number(capture('nproc')) || os.availableParallelism(),
    cpu: cpuModel(),
    ramGiB: ramGiB(),
    kernel: `${os.type()} ${os.release()}`,
    fs: capture('findmnt', ['-n', '-o', 'FSTYPE', '-T', workDir]) ?? capture('stat', ['-f', '-c', '%T', workDir]) ?? 'unknown',
    load: os.loadavg()[0],
  };
}

export function describeMachine(m) {
  return `${m.cores} cores, ${m.cpu}, ${m.ramGiB.toFixed(1)} GiB RAM, ${m.kernel}, work dir on ${m.fs}`;
}
