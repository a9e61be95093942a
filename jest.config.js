/** @type {import('jest').Config} */
const base = {
    testEnvironment: "node",
    transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.json", diagnostics: false }] },
    moduleFileExtensions: ["ts", "js", "json"],
    // The work dir holds etcd's *.snap files and copies of the project: neither are tests nor snapshots.
    modulePathIgnorePatterns: ["<rootDir>/.work/", "<rootDir>/.tools/"],
    testPathIgnorePatterns: ["/node_modules/", "<rootDir>/.work/", "<rootDir>/.tools/"],
};
module.exports = {
    projects: [
        { ...base, displayName: "unit", testMatch: ["<rootDir>/test/unit/**/*.test.ts"] },
        { ...base, displayName: "contract", testMatch: ["<rootDir>/test/contract/**/*.test.ts"] },
        { ...base, displayName: "engine", testMatch: ["<rootDir>/test/engine/**/*.test.ts"] },
    ],
};
