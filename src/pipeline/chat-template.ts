import { Template } from '@huggingface/jinja';
import { GlimpseError } from '../errors.js';

/** A message as HF chat templates see it: images are bare `{type: 'image'}` placeholders. */
export interface TemplateMessage {
  role: 'system' | 'user' | 'assistant';
  content: ({ type: 'image' } | { type: 'text'; text: string })[];
}

export interface ChatTemplateTokens {
  bosToken?: string | undefined;
  eosToken?: string | undefined;
}

/**
 * The model's chat template (Jinja, from the model directory), rendered with @huggingface/jinja to
 * text, exactly as HF's `apply_chat_template(..., tokenize=False)` does.
 */
export class ChatTemplate {
  private readonly template: Template;
  private readonly tokens: ChatTemplateTokens;

  constructor(source: string | undefined, tokens: ChatTemplateTokens = {}) {
    if (!source) {
      throw new GlimpseError('glimpse_model_invalid', 'the model directory has no chat template', {
        userMessage: 'The model is not installed correctly.',
      });
    }
    try {
      this.template = new Template(source);
    } catch (error) {
      throw new GlimpseError('glimpse_model_invalid', `the chat template does not parse: ${String(error)}`, {
        cause: error,
        userMessage: 'The model is not installed correctly.',
      });
    }
    this.tokens = tokens;
  }

  render(messages: TemplateMessage[], addGenerationPrompt = true): string {
    try {
      return this.template.render({
        messages,
        add_generation_prompt: addGenerationPrompt,
        bos_token: this.tokens.bosToken ?? '',
        eos_token: this.tokens.eosToken ?? '',
      });
    } catch (error) {
      throw new GlimpseError('glimpse_model_failed', `the chat template failed to render: ${String(error)}`, {
        cause: error,
      });
    }
  }
}
