/**
 * Where the bench finds the repository and the MAWS build it measures. Imported first by
 * bench/run.ts: the harness in test/support finds `dist/main.js` relative to its own folder,
 * which for the compiled bench is build-tools/test/support; point it at the repository's
 * dist/ instead (unless MAWS_MAIN_JS says otherwise).
 *
 * The bench runs compiled, from build-tools/bench/..., so no path here is relative to a
 * source file: everything is resolved from the repository's root, the nearest folder above
 * this file that holds a package.json (bench/lib and build-tools/bench/lib alike).
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';

function repositoryRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

/** The repository's root folder. */
export const ROOT = repositoryRoot(__dirname);

/** The built entry point the bench starts (`node dist/main.js ROLE`). */
export const MAWS_MAIN_JS = (process.env.MAWS_MAIN_JS ||= path.join(ROOT, 'dist', 'main.js'));
