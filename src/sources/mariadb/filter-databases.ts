import { Transform, type TransformCallback } from 'node:stream';

/**
 * Keeps the header and footer of an --all-databases dump and the sections of the given
 * databases (each starts with a `-- Current Database: \`db\`` comment).
 */
export function filterDatabases(keep: Set<string> | Map<string, Set<string> | null>): Transform {
  const sel: Map<string, Set<string> | null> = keep instanceof Map ? keep : new Map([...keep].map((d) => [d, null]));
  let rest = '';
  let on = true;
  let tables: Set<string> | null = null;
  let tableOn = true;
  const take = (line: string): string => {
    const m = /^-- Current Database: `((?:[^`]|``)+)`/.exec(line);
    const t = /^-- (?:Table structure for table|Dumping data for table|Temporary table structure for view|Final view structure for view) `((?:[^`]|``)+)`/.exec(line);
    if (m) {
      const db = m[1]!.replace(/``/g, '`');
      on = sel.has(db);
      tables = sel.get(db) ?? null;
      tableOn = true;
    } else if (t) tableOn = tables === null || tables.has(t[1]!.replace(/``/g, '`'));
    else if (/^-- Dumping (events|routines) for database/.test(line)) tableOn = tables === null;
    else if (/^\/\*!40103 SET TIME_ZONE=@OLD_TIME_ZONE \*\/;/.test(line)) {
      on = true; // footer
      tableOn = true;
    }
    return on && tableOn ? line + '\n' : '';
  };
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      const lines = (rest + chunk.toString('utf8')).split('\n');
      rest = lines.pop() ?? '';
      cb(null, lines.map(take).join(''));
    },
    flush(cb: TransformCallback) {
      cb(null, rest ? take(rest).replace(/\n$/, '') : '');
    },
  });
}
