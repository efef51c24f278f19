// Replays the shared/ test tables (tests/shared/cases/*.json) in Pyodide, the Workers runtime's
// Python, with the very table_runner.py CPython uses. Prints one JSON object to stdout:
//   {"pyodide": "0.28.2", "python": "3.13.2", "tables": <table_runner.run_all()>}
// tests/edge/test_pyodide_tables.py compares "tables" with the CPython run, case by case.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT, sourceFiles } from "./build.mjs";
import { bootPython, prependSysPath, writeFiles } from "./python.mjs";

const ROOT = "/home/pyodide/tables";
const cases = readdirSync(join(REPO_ROOT, "tests/shared/cases")).filter((name) => name.endsWith(".json"));
const files = [
  ...sourceFiles().filter((file) => file.startsWith("shared/")),
  "tests/shared/table_runner.py",
  ...cases.map((name) => `tests/shared/cases/${name}`),
].map((name) => ({ name, path: join(REPO_ROOT, name) }));
// Empty package markers: the tables name functions as `tests.shared.table_runner.…`, and the real
// tests/__init__.py files are not needed here.
files.push({ name: "tests/__init__.py", text: "" }, { name: "tests/shared/__init__.py", text: "" });

const { pyodide } = await bootPython();
writeFiles(pyodide, ROOT, files);
prependSysPath(pyodide, ROOT);
const output = pyodide.runPython(`
import json, platform
from tests.shared import table_runner
json.dumps({"pyodide": ${JSON.stringify(pyodide.version)}, "python": platform.python_version(),
            "tables": table_runner.run_all()}, sort_keys=True)
`);
process.stdout.write(`${output}\n`);
