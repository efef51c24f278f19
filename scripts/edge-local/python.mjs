// Booting Pyodide offline from node_modules and filling its file system.
import { readFileSync } from "node:fs";
import { loadPyodide } from "pyodide";

/**
 * Pyodide 0.28.2 is the Python the Workers runtime runs (3.13.2). Python's stdout and stderr go to
 * our stderr, so a script's own stdout (run-tables.mjs prints JSON) stays clean.
 */
export async function bootPython() {
  const started = performance.now();
  const pyodide = await loadPyodide({
    stdout: (line) => process.stderr.write(`${line}\n`),
    stderr: (line) => process.stderr.write(`${line}\n`),
  });
  return { pyodide, bootMs: Math.round(performance.now() - started) };
}

/** Writes `files` ([{name: "pkg/mod.py", path}] or [{name, text}]) below `dir`. */
export function writeFiles(pyodide, dir, files) {
  for (const file of files) {
    const target = `${dir}/${file.name}`;
    pyodide.FS.mkdirTree(target.slice(0, target.lastIndexOf("/")));
    pyodide.FS.writeFile(target, file.text ?? new Uint8Array(readFileSync(file.path)));
  }
}

export function prependSysPath(pyodide, dir) {
  pyodide.runPython(`import sys; sys.path.insert(0, ${JSON.stringify(dir)})`);
}

/** Unpacks a pure-Python wheel into site-packages, as pip would (no dependencies, no scripts). */
export function installWheel(pyodide, wheelPath) {
  const purelib = pyodide.runPython("import sysconfig; sysconfig.get_paths()['purelib']");
  // unpackArchive wants a plain Uint8Array; a Node Buffer is refused as an unknown typed array.
  pyodide.unpackArchive(new Uint8Array(readFileSync(wheelPath)), "wheel", { extractDir: purelib });
  pyodide.runPython("import importlib; importlib.invalidate_caches()");
}
