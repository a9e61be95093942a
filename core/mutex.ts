/** A promise-chain mutex: callers run one at a time, in arrival order. */
export class Mutex {
    private tail: Promise<void> = Promise.resolve();

    async run<T>(fn: () => Promise<T> | T): Promise<T> {
        const previous = this.tail;
        let release!: () => void;
        this.tail = new Promise<void>((resolve) => (release = resolve));
        await previous;
        try {
            return await fn();
        } finally {
            release();
        }
    }
}
