/**
 * The worker thread of WorkerApplier (service/applier.ts): applies a batch of
 * events to the manifest text off the service's event loop. Messages in:
 * ApplyRequest; out: ApplyReply (see applier.ts).
 */
import { parentPort } from "node:worker_threads";
import { applyInline, type ApplyRequest } from "./applier";

parentPort?.on("message", (req: ApplyRequest) => {
    try {
        parentPort?.postMessage({ seq: req.seq, ok: true, outcome: applyInline(req.source, req.events, req.opts) });
    } catch (err) {
        parentPort?.postMessage({ seq: req.seq, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    }
});
