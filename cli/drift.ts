import type { Command } from "commander";

/** Registers `tenantctl drift`. */
export function registerDriftCommands(_program: Command): void {
    // Filled in by the drift detection work (issue: previews and policy pack).
}
