/**
 * Jest environment for Stryker's perTest coverage (test/stryker.jest.config.js).
 *
 * Stryker attributes a mutant to the tests that execute it; code run outside a
 * test (a file's imports, a `beforeAll`) counts as "static", and a static
 * mutant is tested by running the whole suite. The program-level tests run the
 * synth in `beforeAll`, so without help every mutant of components/ and most
 * of lib/ would be static, and the run would take hours.
 *
 * This environment moves that coverage to the tests that depend on it: what a
 * file's top-level code executes is credited to every test of the file, what a
 * `beforeAll` executes to every test of its describe block. That is exactly
 * which tests can observe such a mutant (a mutant run loads the file and runs
 * the selected tests' `beforeAll` hooks with the mutant active), so Stryker
 * then runs only those tests. `afterAll` coverage stays static.
 *
 * Stryker wraps this class with its own event handler (which sets the current
 * test id on test_start); ours runs first.
 */
const { TestEnvironment } = require("jest-environment-node");

/** Stryker's instrumenter counters, { static: {id: hits}, perTest: {testId: {id: hits}} }, created on first use. */
function coverageOf(global) {
    const ns = global[global.__strykerGlobalNamespace__ ?? "__stryker__"];
    if (!ns) return undefined;
    ns.mutantCoverage = ns.mutantCoverage ?? { static: {}, perTest: {} };
    return ns.mutantCoverage;
}

/** Hits added to `now` since `before`. */
function delta(now, before) {
    const out = {};
    for (const [id, hits] of Object.entries(now)) {
        const added = hits - (before[id] ?? 0);
        if (added > 0) out[id] = added;
    }
    return out;
}

function merge(into, from) {
    for (const [id, hits] of Object.entries(from)) into[id] = (into[id] ?? 0) + hits;
}

/** Stryker's test id (as its jest environment mixin computes it): the describe names and the test name. */
function blockName(block) {
    return block.parent ? `${blockName(block.parent)} ${block.name}`.trimStart() : "";
}
function fullName(test) {
    return `${blockName(test.parent)} ${test.name}`.trimStart();
}

class StrykerHookCoverageEnvironment extends TestEnvironment {
    /** Coverage credited to every test under a describe block (the root block: the whole file). */
    #pending = new Map();
    #snapshot;

    async handleTestEvent(event, state) {
        const coverage = coverageOf(this.global);
        if (!coverage) return;
        switch (event.name) {
            case "setup":
                this.#snapshot = { ...coverage.static };
                break;
            case "run_start":
                // Everything the file's top-level code executed, its imports included.
                if (this.#snapshot) this.#credit(coverage, state.rootDescribeBlock);
                break;
            case "hook_start":
                if (event.hook.type === "beforeAll") this.#snapshot = { ...coverage.static };
                break;
            case "hook_success":
            case "hook_failure":
                if (event.hook.type === "beforeAll" && this.#snapshot) this.#credit(coverage, event.hook.parent);
                break;
            case "test_start": {
                const credited = {};
                for (let block = event.test.parent; block; block = block.parent) {
                    const pending = this.#pending.get(block);
                    if (pending) merge(credited, pending);
                }
                if (Object.keys(credited).length > 0) {
                    const id = fullName(event.test);
                    coverage.perTest[id] = coverage.perTest[id] ?? {};
                    merge(coverage.perTest[id], credited);
                }
                break;
            }
            default:
                break;
        }
    }

    /** Moves the static hits since the snapshot to the tests under `block`. */
    #credit(coverage, block) {
        const added = delta(coverage.static, this.#snapshot);
        this.#snapshot = undefined;
        for (const [id, hits] of Object.entries(added)) {
            coverage.static[id] -= hits;
            if (coverage.static[id] <= 0) delete coverage.static[id];
        }
        if (!this.#pending.has(block)) this.#pending.set(block, {});
        merge(this.#pending.get(block), added);
    }
}

module.exports = StrykerHookCoverageEnvironment;
