// The benchmark dataset: generate(dir, sizeMB) builds it, mutate(dir) changes ~5% of it.
// Plain Node ESM, no dependencies, so a fresh clone can run it without a build.
export { generate, plan, writeManifest } from './generate.mjs';
export { mutate } from './mutate.mjs';
export { computeManifest, diffManifests } from './manifest.mjs';
