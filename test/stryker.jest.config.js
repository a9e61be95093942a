/**
 * Jest config for Stryker (stryker.config.json). The unit project of
 * jest.config.js, restricted to the unit tests of the mutated code: the tests
 * that mirror lib/, components/ and policy/ (test/unit/{lib,components,policy}).
 * The program-wiring, CLI and service tests (test/unit/{stacks,cli,service,core})
 * and the policy pack's whole-stack tests (test/unit/policy/stack.*.test.ts)
 * are left out: they exercise the same code through far slower paths
 * (synths, child processes), which would multiply the run time per mutant
 * (see test/MUTATION.md).
 *
 * rootDir is the directory Stryker runs in (its sandbox copy of the
 * repository). The environment credits the coverage of a file's imports and
 * of its `beforeAll` hooks to the tests that depend on it
 * (test/stryker.environment.js), so Stryker runs only those tests per mutant.
 */
const path = require("node:path");
const { projects } = require("../jest.config.js");

const unit = projects.find((p) => p.displayName === "unit");
if (!unit) throw new Error("jest.config.js has no unit project");

module.exports = {
    ...unit,
    rootDir: path.resolve(__dirname, ".."),
    testMatch: ["lib", "components", "policy"].map((dir) => `<rootDir>/test/unit/${dir}/**/*.test.ts`),
    // The policy pack over each region's real stack: a synth per file, for every mutant of lib/ and policy/.
    testPathIgnorePatterns: [...unit.testPathIgnorePatterns, "<rootDir>/test/unit/policy/stack\\.[a-z-]+\\.test\\.ts$"],
    testEnvironment: path.join(__dirname, "stryker.environment.js"),
};
