// Loaded with `node --import` before the CLI: any import of the model runtime or a chat SDK fails
// at once with "glimpse-forbidden-import: <specifier>". In-thread hooks where Node has them
// (22.15+, 24, 26), the off-thread loader API on Node 20.
import module from 'node:module';

export const forbidden = [
  'onnxruntime-node',
  'onnxruntime-common',
  'sharp',
  'discord.js',
  '@slack/bolt',
  '@slack/web-api',
];

const isForbidden = (specifier) =>
  forbidden.some((name) => specifier === name || specifier.startsWith(`${name}/`));

if (typeof module.registerHooks === 'function') {
  module.registerHooks({
    resolve(specifier, context, nextResolve) {
      if (isForbidden(specifier))
        throw new Error(`glimpse-forbidden-import: ${specifier} (from ${context.parentURL})`);
      return nextResolve(specifier, context);
    },
  });
} else {
  module.register(new URL('./forbid-runtime-hooks.mjs', import.meta.url));
}
