/**
 * Where a batch of events is applied to the manifest text (lib/manifestEdit.ts
 * applyEvents: one parse, one serialisation, one validation of the whole
 * manifest). That costs about 0.5 s at 1,000 tenants and 2.5 s at 5,000, all
 * synchronous, so the service runs it in a worker thread (WorkerApplier):
 * its event loop keeps answering webhooks meanwhile. InlineApplier runs it
 * in the caller's thread (the unit tests of the group commit).
 *
 * The results cross the thread boundary as plain objects (ApplyReply) and
 * become EditResult / EditError / StaleEvent again on this side. The reply
 * also carries the tenants of the resulting manifest, for the service's
 * in-memory index (service/manifestIndex.ts).
 */
import * as path from "node:path";
import { Worker } from "node:worker_threads";
import { validateManifest, type TenantSpec } from "../lib/manifest";
import { applyEvents, EditError, StaleEvent, type EditOptions, type EditResult, type TimedEvent } from "../lib/manifestEdit";

export interface ApplyOptions {
    readonly file: string;
    readonly sourceIsValid: boolean;
    readonly lastApplied: readonly (readonly [string, number])[];
    readonly today?: string;
    /** Send back the tenants of the result (the index is rebuilt from them: the text was not the one the index knows). */
    readonly tenants?: boolean;
}

export interface ApplyRequest {
    readonly seq: number;
    readonly source: string;
    readonly events: readonly TimedEvent[];
    readonly opts: ApplyOptions;
}

type WireResult =
    | { readonly kind: "ok"; readonly changed: boolean; readonly tenant: TenantSpec }
    | {
          readonly kind: "error";
          readonly status: EditError["status"];
          readonly code: string;
          readonly message: string;
          readonly field?: string;
          readonly issues?: EditError["issues"];
      }
    | { readonly kind: "stale"; readonly tenantId: string; readonly created: number; readonly lastApplied: number; readonly tenant?: TenantSpec };

export interface WireOutcome {
    readonly source: string;
    readonly valid: boolean;
    readonly validations: number;
    readonly results: readonly WireResult[];
    /** The tenants of `source` when asked for (opts.tenants) and valid. */
    readonly tenants?: readonly TenantSpec[];
}

export interface ApplyOutcome {
    readonly source: string;
    readonly valid: boolean;
    readonly validations: number;
    readonly results: readonly (EditResult | EditError | StaleEvent)[];
    readonly tenants?: readonly TenantSpec[];
}

/** The tenants of a manifest text (validated again: the text came from elsewhere). */
/** The entries of a valid manifest, tombstones included (the index decides reuse of a purged tenant's id, websiteId and domains). */
export function tenantsOf(source: string, file: string): readonly TenantSpec[] | undefined {
    const v = validateManifest(source, file);
    return v.ok ? [...v.manifest.tenants, ...(v.manifest.tombstones ?? [])] : undefined;
}

/** applyEvents, its results as plain objects (what the worker sends back). */
export function applyInline(source: string, events: readonly TimedEvent[], opts: ApplyOptions): WireOutcome {
    const edit: EditOptions = { file: opts.file, sourceIsValid: opts.sourceIsValid, lastApplied: new Map(opts.lastApplied), today: opts.today };
    const r = applyEvents(source, events, edit);
    const results = r.results.map((x): WireResult => {
        if (x instanceof EditError) return { kind: "error", status: x.status, code: x.code, message: x.message, field: x.field, issues: x.issues };
        if (x instanceof StaleEvent) return { kind: "stale", tenantId: x.tenantId, created: x.created, lastApplied: x.lastApplied, tenant: x.tenant };
        return { kind: "ok", changed: x.changed, tenant: x.tenant };
    });
    return {
        source: r.source,
        valid: r.valid,
        validations: r.validations,
        results,
        ...(r.valid && opts.tenants ? { tenants: tenantsOf(r.source, opts.file) } : {}),
    };
}

function fromWire(w: WireOutcome): ApplyOutcome {
    const results = w.results.map((x): EditResult | EditError | StaleEvent => {
        if (x.kind === "error") return new EditError(x.status, x.code, x.message, x.field, x.issues);
        if (x.kind === "stale") return new StaleEvent(x.tenantId, x.created, x.lastApplied, x.tenant);
        return { changed: x.changed, source: w.source, tenant: x.tenant };
    });
    return { source: w.source, valid: w.valid, validations: w.validations, results, tenants: w.tenants };
}

export interface BatchApplier {
    apply(source: string, events: readonly TimedEvent[], opts: ApplyOptions): Promise<ApplyOutcome>;
    close(): Promise<void>;
}

/** In the caller's thread. */
export class InlineApplier implements BatchApplier {
    apply(source: string, events: readonly TimedEvent[], opts: ApplyOptions): Promise<ApplyOutcome> {
        return Promise.resolve(fromWire(applyInline(source, events, opts)));
    }

    close(): Promise<void> {
        return Promise.resolve();
    }
}

type Waiter = { resolve: (o: ApplyOutcome) => void; reject: (e: unknown) => void };

/** In a worker thread (started on first use, TypeScript through tsx like the CLI), one batch at a time. */
export class WorkerApplier implements BatchApplier {
    private worker: Worker | undefined;
    private seq = 0;
    private readonly waiting = new Map<number, Waiter>();

    private start(): Worker {
        if (this.worker) return this.worker;
        const w = new Worker(path.join(__dirname, "applyWorker.ts"), { execArgv: ["--import", "tsx"] });
        w.on("message", (m: { seq: number; ok: boolean; outcome?: WireOutcome; error?: string }) => {
            const waiter = this.waiting.get(m.seq);
            this.waiting.delete(m.seq);
            if (m.ok && m.outcome) waiter?.resolve(fromWire(m.outcome));
            else waiter?.reject(new Error(`applying the batch failed in the worker: ${m.error}`));
        });
        const fail = (err: unknown) => {
            for (const w2 of this.waiting.values()) w2.reject(err);
            this.waiting.clear();
            this.worker = undefined;
        };
        w.on("error", fail);
        w.on("exit", (code) => fail(new Error(`the apply worker exited (code ${code})`)));
        w.unref();
        this.worker = w;
        return w;
    }

    apply(source: string, events: readonly TimedEvent[], opts: ApplyOptions): Promise<ApplyOutcome> {
        const w = this.start();
        const seq = ++this.seq;
        return new Promise<ApplyOutcome>((resolve, reject) => {
            this.waiting.set(seq, { resolve, reject });
            w.postMessage({ seq, source, events, opts } satisfies ApplyRequest);
        });
    }

    async close(): Promise<void> {
        const w = this.worker;
        this.worker = undefined;
        if (w) await w.terminate();
    }
}
