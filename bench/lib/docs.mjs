// Writes the results of a run into docs/benchmarks.md between markers, and moves the
// previous results' one-line summary into the History list. Everything outside the
// two marked blocks (how to run, metric definitions, "Where the time goes") is left
// exactly as it is, so people can edit those parts freely.
//
//   <!-- BEGIN bench:results ... -->   replaced on every run; carries the run's
//   ...                                history line in a <!-- bench:history-entry ... --> comment
//   <!-- END bench:results -->
//   <!-- BEGIN bench:history ... -->   one "- ..." line per earlier run, newest first
//   <!-- END bench:history -->
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

const RESULTS = /(<!-- BEGIN bench:results[^>]*-->\n)([\s\S]*?)(<!-- END bench:results -->)/;
const HISTORY = /(<!-- BEGIN bench:history[^>]*-->\n)([\s\S]*?)(<!-- END bench:history -->)/;
const ENTRY = /<!-- bench:history-entry: ([\s\S]*?) -->/;

export const RESULTS_BLOCK = (body) =>
  `<!-- BEGIN bench:results (written by \`npm run bench\`; everything up to END is replaced on every run) -->\n${body}<!-- END bench:results -->`;
export const HISTORY_BLOCK = (body) =>
  `<!-- BEGIN bench:history (one line per earlier run, newest first; maintained by \`npm run bench\`) -->\n${body}<!-- END bench:history -->`;

/** Escape what would end an HTML comment early. */
function commentSafe(s) {
  return s.replace(/--/g, '—');
}

/**
 * Put `resultsMarkdown` into the results block of `path`, carrying `historyLine` for
 * the next run to move into History. Returns a short note about what was done.
 */
export function updateDocs(path, resultsMarkdown, historyLine) {
  let doc = existsSync(path) ? readFileSync(path, 'utf8') : '# Benchmarks\n';
  let note = 'updated';
  if (!RESULTS.test(doc)) {
    doc = `${doc.trimEnd()}\n\n## Results\n\n${RESULTS_BLOCK('')}\n`;
    note = 'results markers were missing: appended a Results section';
  }
  if (!HISTORY.test(doc)) {
    doc = `${doc.trimEnd()}\n\n## History\n\n${HISTORY_BLOCK('')}\n`;
    note = note === 'updated' ? 'history markers were missing: appended a History section' : note;
  }
  const previous = ENTRY.exec(RESULTS.exec(doc)[2]);
  if (previous) {
    doc = doc.replace(HISTORY, (_, begin, body, end) => `${begin}- ${previous[1]}\n${body}${end}`);
  }
  const body = `${resultsMarkdown.trimEnd()}\n\n<!-- bench:history-entry: ${commentSafe(historyLine)} -->\n`;
  doc = doc.replace(RESULTS, (_, begin, _old, end) => `${begin}${body}${end}`);
  writeFileSync(`${path}.tmp`, doc);
  renameSync(`${path}.tmp`, path);
  return note;
}
