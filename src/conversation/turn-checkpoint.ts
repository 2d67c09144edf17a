import type { Logger } from '../logger.js';
import type { ReplyPart } from './chat-event.js';
import type { ConversationStore, ConversationTurn } from './conversation-store.js';

export interface TurnCheckpointOptions {
  store: ConversationStore;
  conversationId: string;
  /** the question, as it will be stored */
  question: ConversationTurn;
  log: Logger;
  /** the least time between two saves while text streams (ms, default 250) */
  minIntervalMs?: number;
  /** saves at least this often, text or not, to renew the store's lease (ms, default 5000) */
  heartbeatMs?: number;
}

/**
 * The record of a turn while it is answered: the question and the answer so far (marked
 * interrupted) are saved in the store as the answer starts and as its text streams, at most one
 * save at a time and one per `minIntervalMs`. A process killed mid-answer cannot write anything
 * as it dies; this record is what it leaves, and the store's next load of the conversation turns it
 * into the interrupted turn (`ConversationStore.saveInFlight`). `end` forgets it once the turn
 * is stored. Saving never holds up the answer; a failed save is a debug line.
 */
export class TurnCheckpoint {
  private text = '';
  private saved = -1;
  private version = 0;
  private lastSaveAt = 0;
  private saving: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly heartbeat: NodeJS.Timeout;
  private ended = false;
  private readonly minIntervalMs: number;
  private readonly turnId: string;

  constructor(private readonly options: TurnCheckpointOptions) {
    this.minIntervalMs = options.minIntervalMs ?? 250;
    this.turnId = options.question.messageId ?? options.question.createdAt;
    this.heartbeat = setInterval(() => {
      this.version++;
      this.schedule();
    }, options.heartbeatMs ?? 5_000);
    this.heartbeat.unref();
    this.version++;
    this.schedule();
  }

  /** passes `parts` through, saving the answer's text as it grows */
  track(parts: AsyncIterable<ReplyPart>): AsyncIterable<ReplyPart> {
    const checkpoint = this;
    return (async function* tracked() {
      for await (const part of parts) {
        if (part.type === 'text-delta' && part.text !== '') {
          checkpoint.text += part.text;
          checkpoint.version++;
          checkpoint.schedule();
        }
        yield part;
      }
    })();
  }

  /** the turn is over: stops saving and forgets the record (never throws) */
  async end(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.heartbeat);
    clearTimeout(this.timer);
    await this.saving;
    try {
      await this.options.store.clearInFlight(this.options.conversationId, this.turnId);
    } catch (error) {
      this.options.log.debug(
        { err: error, code: 'glimpse_store_failed' },
        'could not forget the in-flight turn',
      );
    }
  }

  private schedule(): void {
    if (this.ended || this.saving || this.timer || this.saved === this.version) return;
    const wait = this.lastSaveAt + this.minIntervalMs - Date.now();
    if (wait > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.schedule();
      }, wait);
      this.timer.unref();
      return;
    }
    const version = this.version;
    this.lastSaveAt = Date.now();
    this.saving = this.save()
      .then(() => {
        this.saved = version;
      })
      .catch((error: unknown) => {
        this.saved = version;
        this.options.log.debug(
          { err: error, code: 'glimpse_store_failed' },
          'could not save the in-flight turn',
        );
      })
      .finally(() => {
        this.saving = undefined;
        this.schedule();
      });
  }

  private save(): Promise<void> {
    const answer: ConversationTurn = {
      role: 'assistant',
      parts: [{ type: 'text', text: this.text }],
      createdAt: new Date().toISOString(),
      interrupted: true,
    };
    return this.options.store.saveInFlight(this.options.conversationId, {
      turnId: this.turnId,
      turns: [this.options.question, answer],
    });
  }
}
