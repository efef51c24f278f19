// The Worker bundle's layout, in one place: `wrangler deploy` (through [build] in wrangler.toml)
// and the local edge (pyodide-worker.mjs) both take their Python modules from here.
//
// wrangler uploads the main module under its *basename* ("entry.py") and every other module under
// its path relative to base_dir ("edge/handler.py", "shared/tags.py"); edge/entry.py itself is not
// uploaded a second time. So in production `entry` is a top-level module and `edge`, `shared` are
// top-level packages: entry.py must import `edge.x` / `shared.x` absolutely, never relatively.
//
// Run directly (`node scripts/edge-local/build.mjs [outDir]`) it copies the sources into the build
// folder that wrangler.toml's `main` and `base_dir` point into.
import { cpSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const PACKAGES = ["edge", "shared"];
export const MAIN = "edge/entry.py";
export const BUILD_DIR = "build/worker";

function pythonFiles(dir) {
  const found = [];
  for (const item of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, item.name);
    if (item.isDirectory() && item.name !== "__pycache__") found.push(...pythonFiles(path));
    else if (item.isFile() && item.name.endsWith(".py")) found.push(path);
  }
  return found;
}

/** The source files of the bundle, relative to `root`, sorted ("edge/entry.py", "shared/tags.py"…). */
export function sourceFiles(root = REPO_ROOT) {
  return PACKAGES.flatMap((pkg) => pythonFiles(join(root, pkg)))
    .map((path) => relative(root, path).replaceAll("\\", "/"))
    .sort();
}

/** [{name, path}]: each module under the name wrangler uploads it as (see the header comment). */
export function workerModules(root = REPO_ROOT) {
  return sourceFiles(root).map((file) => ({
    name: file === MAIN ? basename(MAIN) : file,
    path: join(root, file),
  }));
}

export function build(outDir = join(REPO_ROOT, BUILD_DIR), root = REPO_ROOT) {
  // Start clean so a module deleted from edge/ or shared/ never lingers in the bundle.
  rmSync(outDir, { recursive: true, force: true });
  for (const file of sourceFiles(root)) {
    mkdirSync(dirname(join(outDir, file)), { recursive: true });
    cpSync(join(root, file), join(outDir, file));
  }
  return outDir;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const outDir = build(process.argv[2] ? resolve(process.argv[2]) : undefined);
  console.log(`edge bundle: ${sourceFiles().length} modules from ${PACKAGES.join("/, ")}/ in ${outDir}`);
}
