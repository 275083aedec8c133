// Copies the built YASGUI files from node_modules into endpoint/static/vendor/yasgui/ (not
// committed). Runs as this package's postinstall, so `npm ci` here is the whole build.
import { copyFileSync, mkdirSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const from = join(here, "node_modules", "@zazuko", "yasgui");
const to = join(here, "..", "static", "vendor", "yasgui");
mkdirSync(to, { recursive: true });
for (const [src, dst] of [
  ["build/yasgui.min.js", "yasgui.min.js"],
  ["build/yasgui.min.css", "yasgui.min.css"],
  ["package.json", "package.json"],
  ["LICENSE", "LICENSE"],
]) {
  const path = join(from, src);
  if (existsSync(path)) copyFileSync(path, join(to, dst));
  else if (!src.startsWith("LICENSE")) throw new Error(`missing ${path}: is @zazuko/yasgui installed?`);
}
console.log(`YASGUI copied to ${to}`);
