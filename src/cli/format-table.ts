export interface Column {
  header: string;
  align?: 'left' | 'right';
}

/**
 * Aligned plain-text table: header, a rule of dashes, rows. Widths count code points,
 * which is right for the ids, sizes, times and paths this CLI prints.
 */
export function formatTable(columns: (string | Column)[], rows: string[][]): string[] {
  const cols: Column[] = columns.map((c) => (typeof c === 'string' ? { header: c } : c));
  const width = (s: string): number => Array.from(s).length;
  const widths = cols.map((c, i) => Math.max(width(c.header), ...rows.map((r) => width(r[i] ?? ''))));
  const line = (cells: string[]): string =>
    cols
      .map((c, i) => {
        const cell = cells[i] ?? '';
        const padN = widths[i]! - width(cell);
        return c.align === 'right' ? ' '.repeat(padN) + cell : cell + ' '.repeat(padN);
      })
      .join('  ')
      .trimEnd();
  const header = line(cols.map((c) => c.header));
  const rule = '-'.repeat(width(header));
  return [header, rule, ...rows.map(line)];
}
