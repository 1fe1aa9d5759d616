/** Two aligned columns: [["files", "12 new"], ...] → "  files     12 new". */
export function formatKeyValues(pairs: readonly (readonly [string, string])[], indent = '  '): string[] {
  const w = Math.max(0, ...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${indent}${k.padEnd(w)}  ${v}`.trimEnd());
}
