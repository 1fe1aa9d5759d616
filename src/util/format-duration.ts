/**
 * A short human duration for summaries and ETAs: "850ms", "4.2s", "3m 07s", "2h 05m",
 * "3d 04h". Two units at most: past a minute, nobody needs the smaller parts.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  // Below 59.95 s one decimal; above, toFixed(1) would round up to "60.0s".
  if (ms < 59_950) return `${(ms / 1000).toFixed(1)}s`;
  const totalS = Math.round(ms / 1000);
  const d = Math.floor(totalS / 86_400);
  const h = Math.floor((totalS % 86_400) / 3600);
  const m = Math.floor((totalS % 3600) / 60);
  const s = totalS % 60;
  if (d > 0) return `${d}d ${pad(h)}h`;
  if (h > 0) return `${h}h ${pad(m)}m`;
  return `${m}m ${pad(s)}s`;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}
