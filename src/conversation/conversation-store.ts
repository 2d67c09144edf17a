import type { ChatAuthor, ImagePart } from '../messages.js';
import type { TurnTicket } from './turn-ticket.js';

/** A reference to an image kept once in the store, content-addressed by sha256. */
export interface ImageRef {
  type: 'image-ref';
  sha256: string;
  mediaType: string;
  width: number;
  height: number;
  name: string;
}

export type StoredPart = { type: 'text'; text: string } | ImageRef;

export interface ConversationTurn {
  role: 'user' | 'assistant';
  parts: StoredPart[];
  /** the platform message this turn came from or was rendered into */
  messageId?: string;
  author?: ChatAuthor;
  /** an assistant answer that was cut off (cancelled, failed): stored as far as it was shown */
  interrupted?: boolean;
  createdAt: string;
}

/**
 * A turn being answered, kept while it streams so that a process killed mid-answer leaves it in
 * the history: the question and the answer so far, marked `interrupted`.
 */
export interface InFlightTurn {
  /** the turn's key within its conversation (the question's message id) */
  turnId: string;
  /** the question, then the answer so far (`interrupted: true`) */
  turns: ConversationTurn[];
}

/** A platform message's place in a conversation: the conversation and its turn's `messageId`. */
export interface MessageLink {
  conversationId: string;
  anchor: string;
}

/**
 * The store seam: durable conversation history with a TTL, and images stored once by hash.
 * Implementations: keyv over a SQLite file (default) or Redis (several replicas).
 */
export interface ConversationStore {
  load(conversationId: string): Promise<ConversationTurn[]>;
  append(conversationId: string, turns: ConversationTurn[]): Promise<void>;
  reset(conversationId: string): Promise<void>;
  putImage(image: ImagePart): Promise<ImageRef>;
  getImage(sha256: string): Promise<ImagePart | undefined>;
  /**
   * Remembers that platform messages `messageKeys` (`<platform>:<message id>`: a question, the
   * messages its answer was rendered into) belong to `conversationId`, at the turn whose
   * `messageId` is `anchor`. Same TTL as the history.
   */
  linkMessages(conversationId: string, anchor: string, messageKeys: string[]): Promise<void>;
  /**
   * True the first time `eventKey` (`slack:event:<event_id>`) is claimed within `ttlSeconds`,
   * false after: a redelivered event is answered once, across every replica sharing the store
   * (Redis `SET NX`, atomic; SQLite is one process's).
   */
  claimEvent(eventKey: string, ttlSeconds: number): Promise<boolean>;
  /**
   * Keeps (replaces) the record of a turn being answered. While this process holds it, it is not
   * history; once the process is gone (a crash, kill -9) the next `load` of the conversation moves
   * it into the history as the interrupted turn it is — at once where one process owns the store
   * (SQLite), after its lease (15 s, renewed by each save and every 5 s) where replicas share it (Redis).
   */
  saveInFlight(conversationId: string, turn: InFlightTurn): Promise<void>;
  /** the turn is over (stored, or not to be kept): forgets its in-flight record */
  clearInFlight(conversationId: string, turnId: string): Promise<void>;
  /**
   * A place in `conversationId`'s queue of turns, behind every ticket taken before, by any manager
   * sharing this store (Redis: across replicas; SQLite: within the one process that owns the file).
   * The turn holding it is the only one that reads and appends that conversation.
   */
  queueTurn(conversationId: string): Promise<TurnTicket>;
  /** where a platform message belongs, if it was linked and has not expired */
  findMessage(messageKey: string): Promise<MessageLink | undefined>;
  close(): Promise<void>;
}
