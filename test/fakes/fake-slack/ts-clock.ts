/** Slack message timestamps (`1700000000.000100`, `1700000000.000200`, …): unique and increasing per fake. */
export class TsClock {
  private micros = 0;

  constructor(private readonly baseSeconds = 1_700_000_000) {}

  next(): string {
    this.micros += 100;
    const seconds = this.baseSeconds + Math.floor(this.micros / 1_000_000);
    return `${seconds}.${String(this.micros % 1_000_000).padStart(6, '0')}`;
  }
}
