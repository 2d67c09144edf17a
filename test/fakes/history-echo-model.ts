import type { ModelRequest } from '../../src/pipeline/vision-chat-model.js';
import { ScriptedModel } from './scripted-model.js';

/**
 * A scripted model whose answer says what it was given: `saw N: <question>`, N being the earlier
 * questions in the request's history. An answer thus shows whether its turn saw every turn before
 * it, in order — what the replica and load tests check.
 */
export function historyEchoModel(options: { delayMs?: number } = {}): ScriptedModel {
  return new ScriptedModel([], {
    fallback: (request: ModelRequest) => {
      const questions = request.messages.filter((message) => message.role === 'user');
      const last = questions.at(-1)?.content.find((part) => part.type === 'text');
      return {
        deltas: [`saw ${questions.length - 1}: `, last?.type === 'text' ? last.text : '?'],
        delayMs: options.delayMs ?? 0,
      };
    },
  });
}

/** the answer `historyEchoModel` gives to question `question`, the `index`-th of its conversation */
export const echoed = (index: number, question: string) => `saw ${index}: ${question}`;
