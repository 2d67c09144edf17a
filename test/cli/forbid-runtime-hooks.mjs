// The off-thread half of forbid-runtime.mjs (Node 20's `module.register`).
const forbidden = [
  'onnxruntime-node',
  'onnxruntime-common',
  'sharp',
  'discord.js',
  '@slack/bolt',
  '@slack/web-api',
];

export async function resolve(specifier, context, nextResolve) {
  if (forbidden.some((name) => specifier === name || specifier.startsWith(`${name}/`))) {
    throw new Error(`glimpse-forbidden-import: ${specifier} (from ${context.parentURL})`);
  }
  return nextResolve(specifier, context);
}
