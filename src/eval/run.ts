import { runEvalCli } from './eval-cli.js';

/** Entry point of `npm run eval` (dist/eval/run.js). */
process.exitCode = await runEvalCli(process.argv.slice(2));
