import type { IntakeItem, IntakeOutcome, IntakeResult } from './submission.service';

interface Waiting {
  item: IntakeItem;
  resolve: (o: IntakeOutcome) => void;
  reject: (e: unknown) => void;
}

/**
 * Groups concurrent single submissions (HTTP requests) into batches for `submitAll`: a request that
 * finds a free slot goes at once (no added latency when traffic is light); requests arriving while
 * `concurrency` batches are in flight wait and leave together as the next batch (one transaction, one
 * pipelined publish), which is where throughput under load comes from.
 */
export class SubmissionBatcher {
  private readonly queue: Waiting[] = [];
  private inFlight = 0;

  constructor(
    private readonly submitAll: (items: readonly IntakeItem[]) => Promise<IntakeResult[]>,
    private readonly maxBatch = 256,
    private readonly concurrency = 2,
  ) {}

  /** Submits one delivery; resolves with its outcome, rejects with its (transient) error. */
  submit(item: IntakeItem): Promise<IntakeOutcome> {
    return new Promise<IntakeOutcome>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.concurrency && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      this.inFlight++;
      void this.run(batch).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async run(batch: Waiting[]): Promise<void> {
    let results: IntakeResult[];
    try {
      results = await this.submitAll(batch.map((w) => w.item));
    } catch (err) {
      for (const w of batch) w.reject(err);
      return;
    }
    batch.forEach((w, i) => {
      const r = results[i];
      if (r?.status === 'fulfilled') w.resolve(r.value);
      else w.reject(r?.reason ?? new Error('submission was not settled'));
    });
  }
}
