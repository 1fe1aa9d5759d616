import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * Child processes (killed mid-save, run as another user) must run the real LocalBackend,
 * but Node 20 cannot load .ts files. So transpile the few source folders it needs into a
 * world-readable temp dir, mirroring the repo layout so `.js` imports resolve. No type
 * checking: other folders may be mid-edit, and `tsc --noEmit` covers types anyway.
 * Returns the temp dir; the child scripts from ./children are copied to its top.
 */
export async function buildChildModules(): Promise<string> {
  const out = await mkdtemp(join(tmpdir(), 'cairn-child-'));
  await chmod(out, 0o755);
  await writeFile(join(out, 'package.json'), '{"type":"module"}\n');
  for (const folder of ['src/core', 'src/backend', 'src/util']) {
    for (const file of await tsFiles(join(repo, folder))) {
      if (file.includes(join('backend', 'testing'))) continue; // imports vitest
      const js = ts.transpileModule(await readFile(file, 'utf8'), {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
      }).outputText;
      const dest = join(out, relative(repo, file)).replace(/\.ts$/, '.js');
      await mkdir(dirname(dest), { recursive: true, mode: 0o755 });
      await writeFile(dest, js, { mode: 0o644 });
    }
  }
  const children = join(repo, 'test', 'backend', 'children');
  for (const name of await readdir(children)) {
    await copyFile(join(children, name), join(out, name));
    await chmod(join(out, name), 0o644);
  }
  return out;
}

async function tsFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await tsFiles(path)));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}
