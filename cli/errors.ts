/**
 * The command line's one exit-code convention:
 *   0  success
 *   1  the input or the check failed (invalid manifest, drift found, refused purge, failed deploy)
 *   2  usage error, or the check itself could not run
 * A command throws CliError; cli/main.ts prints `tenantctl <command>: <message>`
 * on stderr and exits with its code. Nothing else calls process.exit.
 */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export class CliError extends Error {
    override readonly name = "CliError";
    constructor(
        message: string,
        readonly exitCode: ExitCode = EXIT.failed,
    ) {
        super(message);
    }
}

/** A command's result code other than success, without a message (e.g. drift found, printed already). */
export class ExitStatus extends Error {
    override readonly name = "ExitStatus";
    constructor(readonly exitCode: ExitCode) {
        super(`exit ${exitCode}`);
    }
}
