/**
 * Restorable windows that overlap or touch, merged and sorted by start: the ranges an
 * operator can restore to (`cairn pitr`), and between them the gaps. Times are ISO
 * strings of one precision, so they compare as strings.
 */
export function mergeWindows(windows: readonly { from: string; to: string }[]): { from: string; to: string }[] {
  const merged: { from: string; to: string }[] = [];
  for (const w of [...windows].sort((a, b) => a.from.localeCompare(b.from))) {
    const last = merged.at(-1);
    if (last && w.from <= last.to) {
      if (w.to > last.to) last.to = w.to;
    } else merged.push({ from: w.from, to: w.to });
  }
  return merged;
}
