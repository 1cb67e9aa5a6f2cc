// Validates an AsyncAPI document with the AsyncAPI project's own parser and
// prints every diagnostic, one per line. Exits 1 when any is an error (or the
// document cannot be parsed at all), 2 on wrong usage.
//
//   node validate.mjs ../../schemas/asyncapi.yaml
import { Parser, fromFile } from "@asyncapi/parser";

const severities = ["error", "warning", "info", "hint"];

const file = process.argv[2];
if (!file || process.argv.length > 3) {
  console.error("usage: node validate.mjs <asyncapi.yaml>");
  process.exit(2);
}

const { document, diagnostics } = await fromFile(new Parser(), file).parse();
let errors = 0;
for (const d of diagnostics) {
  const severity = severities[d.severity] ?? String(d.severity);
  if (d.severity === 0) errors++;
  const where = d.path?.length ? d.path.join(".") : "(document)";
  console.log(`${severity}\t${d.code}\t${where}\t${d.message}`);
}
if (errors > 0 || !document) {
  console.log(`${file}: ${errors} error(s); not a valid AsyncAPI document`);
  process.exit(1);
}
console.log(`${file}: valid AsyncAPI ${document.version()}, ${diagnostics.length} diagnostic(s) without errors`);
