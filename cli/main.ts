/**
 * tenantctl: the platform's command line, and its composition root. Run it
 * through ./tenantctl, which picks a Node.js >= 22.
 *
 * Every command lives in its own module with a `register(program)`; the heavy
 * modules (the Pulumi SDK, the service, the benches) load only when their
 * command runs. Exit codes (cli/errors.ts): 0 success, 1 the input or the
 * check failed, 2 usage error or the check could not run.
 */
import { Command, CommanderError } from "commander";
import * as path from "node:path";
import { register as registerBackup } from "./backup";
import { register as registerBench } from "./bench";
import { register as registerBenchEngine } from "./bench-engine";
import { register as registerDiff } from "./diff";
import { register as registerDrift } from "./drift";
import { CliError, EXIT, ExitStatus } from "./errors";
import { register as registerExport } from "./export";
import { register as registerPrComment } from "./prComment";
import { register as registerPurge } from "./purgeCommand";
import { register as registerRegion } from "./region";
import { register as registerReport } from "./report";
import { register as registerRotate } from "./rotate";
import { register as registerRestore } from "./restore";
import { register as registerServe } from "./serve";
import { register as registerShowback } from "./showback";
import { register as registerShards } from "./shards";
import { register as registerSynth } from "./synth";
import { register as registerValidate } from "./validate";

export function buildProgram(): Command {
    const program = new Command();
    program
        .name("tenantctl")
        .description("Collect & Verything tenant platform: validate, synthesize, diff, deploy-check and benchmark the region stacks.")
        .exitOverride()
        .configureOutput({ outputError: (str, write) => write(str) })
        .showHelpAfterError("(run tenantctl --help for usage)");
    for (const register of [
        registerValidate,
        registerSynth,
        registerDiff,
        registerBench,
        registerBenchEngine,
        registerPurge,
        registerRotate,
        registerServe,
        registerDrift,
        registerReport,
        registerPrComment,
        registerRegion,
        registerShards,
        registerShowback,
        registerBackup,
        registerRestore,
        registerExport,
    ]) {
        register(program);
    }
    return program;
}

/** The command's name for error messages: `tenantctl drift: …`. */
function commandName(argv: readonly string[]): string {
    const name = argv.slice(2).find((a) => !a.startsWith("-"));
    return name ? `tenantctl ${name}` : "tenantctl";
}

/** Runs the command line; resolves with the exit code (never calls process.exit itself). */
export async function main(argv: string[]): Promise<number> {
    try {
        await buildProgram().parseAsync(argv);
        return EXIT.ok;
    } catch (err) {
        if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
        if (err instanceof ExitStatus) return err.exitCode;
        // A CliError's message is written for the user as it is; anything else is unexpected and says where it came from.
        const message = err instanceof CliError ? err.message : `${commandName(argv)}: ${err instanceof Error ? err.message : String(err)}`;
        process.stderr.write(message.endsWith("\n") ? message : `${message}\n`);
        return err instanceof CliError ? err.exitCode : EXIT.failed;
    }
}

if (require.main === module || path.basename(process.argv[1] ?? "") === "main.ts") {
    void main(process.argv).then((code) => {
        process.exitCode = code;
    });
}
