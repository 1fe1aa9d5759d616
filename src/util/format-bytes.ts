const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];

/**
 * A byte count in binary units with one decimal: "512 B", "1.5 MiB", "3.0 GiB".
 * Binary units because that is what disks and `du -h` report to operators.
 */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return '? B';
  if (n < 0) return `-${formatBytes(-n)}`;
  if (n < 1024) return `${Math.floor(n)} B`;
  let unit = 0;
  let v = n;
  while (v >= 1024 && unit < UNITS.length - 1) {
    v /= 1024;
    unit++;
  }
  // 1023.96 KiB would print as "1024.0 KiB"; move up instead.
  if (Number(v.toFixed(1)) >= 1024 && unit < UNITS.length - 1) {
    v /= 1024;
    unit++;
  }
  return `${v.toFixed(1)} ${UNITS[unit]}`;
}
