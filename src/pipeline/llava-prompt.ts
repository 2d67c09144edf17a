import type { ImagePart } from '../messages.js';
import { ChatTemplate } from './chat-template.js';
import { encodePrompt, stripImageToken } from './image-token-expansion.js';
import type { ModelSpec } from './model-spec.js';
import { planPrompt } from './prompt-plan.js';
import type { TextTokenizer } from './text-tokenizer.js';
import type { ModelMessage, WarningPart } from './vision-chat-model.js';

/** A prompt ready for the model: token ids with the image tokens expanded, and its images. */
export interface BuiltPrompt {
  /** the rendered chat template, before image-token expansion */
  text: string;
  inputIds: number[];
  imageTokens: number;
  /** in the order of their image tokens */
  images: ImagePart[];
  warnings: WarningPart[];
}

export interface LlavaPromptOptions {
  maxImages: number;
  defaultPrompt?: string;
}

/**
 * Messages → prompt ids, as HF's LlavaProcessor builds them: chat template rendered to text,
 * each image placeholder expanded to the model's image-token count, then tokenized.
 */
export class LlavaPrompt {
  readonly imageToken: string;

  constructor(
    private readonly spec: ModelSpec,
    private readonly tokenizer: TextTokenizer,
    private readonly template: ChatTemplate,
    private readonly options: LlavaPromptOptions,
  ) {
    this.imageToken = spec.imageToken ?? tokenizer.idToToken(spec.imageTokenId) ?? '<image>';
  }

  static fromFiles(
    spec: ModelSpec,
    tokenizer: TextTokenizer,
    chatTemplate: string | undefined,
    options: LlavaPromptOptions,
  ): LlavaPrompt {
    const template = new ChatTemplate(chatTemplate, {
      bosToken: tokenizer.bosToken,
      eosToken: tokenizer.eosToken,
    });
    return new LlavaPrompt(spec, tokenizer, template, options);
  }

  build(messages: readonly ModelMessage[]): BuiltPrompt {
    const clean = messages.map((message) => ({
      role: message.role,
      content: message.content.map((part) =>
        part.type === 'text'
          ? { type: 'text' as const, text: stripImageToken(part.text, this.imageToken) }
          : part,
      ),
    }));
    const plan = planPrompt(clean, {
      maxImages: this.options.maxImages,
      ...(this.options.defaultPrompt ? { defaultPrompt: this.options.defaultPrompt } : {}),
    });
    const text = this.template.render(plan.messages, true);
    const { inputIds, imageTokens } = encodePrompt(text, plan.images.length, this.tokenizer, {
      imageToken: this.imageToken,
      imageTokenId: this.spec.imageTokenId,
      tokensPerImage: this.spec.imageTokensPerImage,
    });
    return { text, inputIds, imageTokens, images: plan.images, warnings: plan.warnings };
  }
}
