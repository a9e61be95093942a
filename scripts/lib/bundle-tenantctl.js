// Bundles tenantctl (cli/main.ts and everything it loads) into one executable CommonJS file for the backup image
// (scripts/lib/backup-image.sh), with esbuild (tsx's own compiler, already a dependency).
//   node scripts/lib/bundle-tenantctl.js OUT [--interpreter /usr/local/bin/node]
// The first line is `#!<interpreter>`, so the image runs `tenantctl ...` without a shell. Modules that run
// themselves when they are the main module (`require.main === module`, e.g. core/synthProcess.ts) would all be
// "main" inside one bundle: that test is kept for the entry point only.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const root = path.resolve(__dirname, "..", "..");
const esbuild = require(path.join(root, "node_modules", "esbuild"));

const out = process.argv[2];
const i = process.argv.indexOf("--interpreter");
const interpreter = i > 0 ? process.argv[i + 1] : "/usr/local/bin/node";
if (!out) {
    process.stderr.write("usage: node scripts/lib/bundle-tenantctl.js OUT [--interpreter /usr/local/bin/node]\n");
    process.exit(2);
}
const entry = path.join(root, "cli", "main.ts");
const notMain = {
    name: "only-the-entry-is-main",
    setup(build) {
        build.onLoad({ filter: /\.ts$/ }, (args) => {
            const source = fs.readFileSync(args.path, "utf8");
            if (args.path === entry || !source.includes("require.main === module")) return undefined;
            return { contents: source.split("require.main === module").join("false"), loader: "ts" };
        });
    },
};
esbuild
    .build({
        entryPoints: [entry],
        bundle: true,
        platform: "node",
        format: "cjs",
        target: "node24",
        outfile: out,
        banner: { js: `#!${interpreter}` },
        legalComments: "none",
        logLevel: "warning",
        plugins: [notMain],
    })
    .then(() => fs.chmodSync(out, 0o755))
    .catch((err) => {
        process.stderr.write(`bundle-tenantctl: ${err.message}\n`);
        process.exit(1);
    });
