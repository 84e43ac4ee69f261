/**
 * Imported first by bench/run.ts: the harness in test/support finds `dist/main.js` relative
 * to its own folder, which for the compiled bench is build-tools/test/support; point it at
 * the repository's dist/ instead (unless MAWS_MAIN_JS says otherwise).
 */
import * as path from 'node:path';

process.env.MAWS_MAIN_JS ||= path.resolve(__dirname, '..', '..', '..', 'dist', 'main.js');
