// Copy the front-end libraries omni311's web pages use from node_modules into static/vendor (not committed):
// USWDS (css, js, fonts, img), htmx, Leaflet and leaflet.heat. Run by `npm run vendor` (the Makefile's `assets` target).
import { cpSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(dirname(fileURLToPath(import.meta.url)));
const modules = join(here, "node_modules");
const vendor = join(here, "static", "vendor");
const copies = [
  ["@uswds/uswds/dist/css", "uswds/css"],
  ["@uswds/uswds/dist/js", "uswds/js"],
  ["@uswds/uswds/dist/fonts", "uswds/fonts"],
  ["@uswds/uswds/dist/img", "uswds/img"],
  ["htmx.org/dist/htmx.min.js", "htmx/htmx.min.js"],
  ["leaflet/dist/leaflet.js", "leaflet/leaflet.js"],
  ["leaflet/dist/leaflet.css", "leaflet/leaflet.css"],
  ["leaflet/dist/images", "leaflet/images"],
  ["leaflet.heat/dist/leaflet-heat.js", "leaflet/leaflet-heat.js"],
];
rmSync(vendor, { recursive: true, force: true });
for (const [from, to] of copies) {
  mkdirSync(dirname(join(vendor, to)), { recursive: true });
  cpSync(join(modules, from), join(vendor, to), { recursive: true });
}
writeFileSync(join(vendor, ".installed"), new Date().toISOString() + "\n");
console.log(`shared/web: vendor assets copied to ${vendor}`);
