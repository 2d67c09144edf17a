import { Tokenizer } from '@huggingface/tokenizers';
import { GlimpseError } from '../errors.js';
import type { JsonObject } from './model-directory.js';

function tokenString(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  return undefined;
}

/**
 * The model's tokenizer (tokenizer.json + tokenizer_config.json through @huggingface/tokenizers),
 * with the special tokens the chat template and the stop rules need.
 */
export class TextTokenizer {
  private readonly tokenizer: Tokenizer;
  readonly bosToken: string | undefined;
  readonly eosToken: string | undefined;
  readonly bosTokenId: number | undefined;
  readonly eosTokenId: number | undefined;
  /** ids of added special tokens, e.g. `<image>`, `</s>` */
  readonly specialIds: ReadonlySet<number>;

  constructor(tokenizerJson: JsonObject, tokenizerConfig: JsonObject, specialTokensMap: JsonObject = {}) {
    try {
      this.tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
    } catch (error) {
      throw new GlimpseError('glimpse_model_invalid', `tokenizer.json cannot be loaded: ${String(error)}`, {
        cause: error,
        userMessage: 'The model files are damaged.',
      });
    }
    this.bosToken = tokenString(tokenizerConfig.bos_token) ?? tokenString(specialTokensMap.bos_token);
    this.eosToken = tokenString(tokenizerConfig.eos_token) ?? tokenString(specialTokensMap.eos_token);
    this.bosTokenId = this.bosToken === undefined ? undefined : this.tokenizer.token_to_id(this.bosToken);
    this.eosTokenId = this.eosToken === undefined ? undefined : this.tokenizer.token_to_id(this.eosToken);
    const special = new Set<number>();
    for (const [id, token] of this.tokenizer.get_added_tokens_decoder()) if (token.special) special.add(id);
    this.specialIds = special;
  }

  /** Encodes text; `addSpecialTokens` runs the tokenizer's post-processor (BOS for Llama). */
  encode(text: string, addSpecialTokens: boolean): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: addSpecialTokens }).ids;
  }

  decode(ids: readonly number[], skipSpecialTokens = true): string {
    return this.tokenizer.decode([...ids], { skip_special_tokens: skipSpecialTokens });
  }

  tokenToId(token: string): number | undefined {
    return this.tokenizer.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.tokenizer.id_to_token(id);
  }
}
