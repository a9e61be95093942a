/** @type {import('jest').Config} */
const tsJest = ["ts-jest", { tsconfig: "tsconfig.json", diagnostics: false }];
module.exports = {
    testEnvironment: "node",
    transform: { "^.+\\.ts$": tsJest },
    moduleFileExtensions: ["ts", "js", "json"],
    projects: [
        {
            displayName: "unit",
            testEnvironment: "node",
            transform: { "^.+\\.ts$": tsJest },
            testMatch: ["<rootDir>/test/unit/**/*.test.ts"],
        },
        {
            displayName: "contract",
            testEnvironment: "node",
            transform: { "^.+\\.ts$": tsJest },
            testMatch: ["<rootDir>/test/contract/**/*.test.ts"],
        },
        {
            displayName: "engine",
            testEnvironment: "node",
            transform: { "^.+\\.ts$": tsJest },
            testMatch: ["<rootDir>/test/engine/**/*.test.ts"],
        },
    ],
};
