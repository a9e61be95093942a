import type { Command } from "commander";

/** Registers the billing-webhook service's commands (serve, bench-webhooks) on tenantctl. */
export function registerServiceCommands(_program: Command): void {
    // Filled in by the webhook service (issue: billing webhooks).
}
