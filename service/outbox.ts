/**
 * The outbox loop: platform events are written to the store's outbox in the
 * transaction that finishes their job, and published from there, in order,
 * after each job and every `intervalMs`. An event is marked published only
 * once the broker confirmed it, so a failed publish is retried by the next
 * flush, and a crash loses nothing (it may publish an event twice).
 */
import type { Logger } from "pino";
import type { Publisher } from "./events";
import type { Metrics } from "./metrics";
import type { Store } from "./store";

export class Outbox {
    private flushing: Promise<void> | undefined;
    private interval: NodeJS.Timeout | undefined;

    /** `publisher` unset: no broker, the events stay in the outbox table. */
    constructor(
        private readonly store: Store,
        private readonly publisher: Publisher | undefined,
        private readonly metrics: Metrics,
        private readonly log: Logger,
    ) {}

    /** Publishes what the outbox holds; resolves when done. Concurrent calls share one flush. */
    flush(): Promise<void> {
        const publisher = this.publisher;
        if (!publisher) return Promise.resolve();
        this.flushing ??= (async () => {
            // Yield first: `flushing` must be assigned before the finally below clears it.
            await Promise.resolve();
            try {
                for (const o of await this.store.unpublished()) {
                    await publisher.publish(o.routingKey, o.body);
                    await this.store.markPublished(o.seq);
                    this.metrics.eventsPublished.inc({ event: o.routingKey });
                }
            } catch (err) {
                this.log.warn({ err: String(err) }, "publishing platform events failed; they stay in the outbox and are retried");
            } finally {
                this.flushing = undefined;
            }
        })();
        return this.flushing;
    }

    /** Flushes now and every `intervalMs`. */
    start(intervalMs: number): void {
        if (!this.publisher) return;
        this.interval = setInterval(() => void this.flush(), intervalMs);
        this.interval.unref();
        void this.flush();
    }

    /** Stops the loop after a last flush and closes the publisher. */
    async close(): Promise<void> {
        clearInterval(this.interval);
        await this.flush();
        await this.publisher?.close();
    }
}
