// @ts-check
const eslint = require("@eslint/js");
const tseslint = require("typescript-eslint");

/**
 * The dependency rule (CONTRIBUTING.md): lib/ (pure) ← core/ (shared I/O) ←
 * {service/, cli/, bench/}; the program (index.ts, components/, stacks/) and
 * the policy pack sit on lib/. Nothing imports cli/ or bench/, except
 * cli/main.ts, the command line's composition root, whose bench commands load
 * bench/ lazily.
 */
const layer = (group, message) => ({ group, message });
const UP_FROM_CORE = [
    layer(["**/service/**", "../service", "./service"], "core/ must not import service/: dependencies point lib ← core ← {service, cli, bench}."),
    layer(["**/cli/**", "../cli", "./cli"], "nothing imports cli/: it is the top of the dependency rule."),
    layer(["**/bench/**", "../bench", "./bench"], "nothing imports bench/: it is the top of the dependency rule."),
];
const restrict = (patterns) => ["error", { patterns }];

module.exports = tseslint.config(
    { ignores: ["node_modules/", "dist/", ".work/", ".tools/", "coverage/", "**/*.js", "**/*.mjs", "test/fixtures/**/node_modules/"] },
    eslint.configs.recommended,
    ...tseslint.configs.recommendedTypeChecked,
    {
        languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: __dirname } },
        rules: {
            "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
            "@typescript-eslint/no-require-imports": "off",
            "@typescript-eslint/no-floating-promises": "error",
            "@typescript-eslint/no-misused-promises": "error",
            "no-new": "off",
        },
    },
    {
        // lib/ is pure: no I/O, no Pulumi, nothing above it.
        files: ["lib/**/*.ts"],
        rules: {
            "no-restricted-imports": restrict([
                ...UP_FROM_CORE,
                layer(["**/core/**", "../core", "./core"], "lib/ is the bottom layer: it must not import core/."),
                layer(["**/components/**", "**/stacks/**", "**/policy/**"], "lib/ is the bottom layer: it must not import the program or the policy pack."),
                layer(
                    ["@pulumi/*", "node:fs", "node:child_process", "node:http", "node:https", "node:net", "fs", "child_process"],
                    "lib/ is pure: no Pulumi and no I/O.",
                ),
            ]),
        },
    },
    {
        // The program and the policy pack: lib/ (and, for the pack, core/'s stack-file reader), never the service or the commands.
        files: ["index.ts", "components/**/*.ts", "stacks/**/*.ts", "policy/**/*.ts"],
        rules: { "no-restricted-imports": restrict(UP_FROM_CORE) },
    },
    {
        files: ["core/**/*.ts"],
        rules: { "no-restricted-imports": restrict(UP_FROM_CORE) },
    },
    {
        files: ["service/**/*.ts"],
        rules: {
            "no-restricted-imports": restrict([
                UP_FROM_CORE[1],
                UP_FROM_CORE[2],
                layer(["commander"], "the service process never loads the command line's parser."),
            ]),
        },
    },
    {
        files: ["bench/**/*.ts"],
        rules: { "no-restricted-imports": restrict([UP_FROM_CORE[1]]) },
    },
    {
        files: ["cli/**/*.ts"],
        ignores: ["cli/main.ts", "cli/bench.ts"],
        rules: { "no-restricted-imports": restrict([UP_FROM_CORE[2]]) },
    },
    {
        // Tests may use the SDK's looser shapes in fixtures; they still must not float promises.
        files: ["test/**/*.ts"],
        rules: {
            "@typescript-eslint/no-unsafe-assignment": "off",
            "@typescript-eslint/no-unsafe-member-access": "off",
            "@typescript-eslint/no-unsafe-argument": "off",
            "@typescript-eslint/no-unsafe-call": "off",
            "@typescript-eslint/no-unsafe-return": "off",
            "@typescript-eslint/unbound-method": "off",
        },
    },
);
