/**
 * What three OpenAI-compatible servers answer, written down from their documented output
 * (field order, extra fields and quirks kept): vLLM 0.x `vllm serve llava-hf/llava-1.5-7b-hf`,
 * llama.cpp's `llama-server -m llava-v1.5-7b-Q4_K_M.gguf --mmproj mmproj-model-f16.gguf`, and
 * Glimpse's own `glimpse serve`.
 */

const sse = (events: unknown[]) =>
  `${events.map((event) => `data: ${typeof event === 'string' ? event : JSON.stringify(event)}\n\n`).join('')}`;

export const vllm = {
  models: {
    object: 'list',
    data: [
      {
        id: 'llava-hf/llava-1.5-7b-hf',
        object: 'model',
        created: 1732000000,
        owned_by: 'vllm',
        root: 'llava-hf/llava-1.5-7b-hf',
        parent: null,
        max_model_len: 4096,
        permission: [
          {
            id: 'modelperm-0c3f2a',
            object: 'model_permission',
            created: 1732000000,
            allow_create_engine: false,
            allow_sampling: true,
            allow_logprobs: true,
            allow_search_indices: false,
            allow_view: true,
            allow_fine_tuning: false,
            organization: '*',
            group: null,
            is_blocking: false,
          },
        ],
      },
    ],
  },
  // role first with empty content, logprobs/stop_reason fields, usage in a chunk of its own
  stream: sse([
    {
      id: 'chatcmpl-7d1e',
      object: 'chat.completion.chunk',
      created: 1732000001,
      model: 'llava-hf/llava-1.5-7b-hf',
      choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }],
    },
    {
      id: 'chatcmpl-7d1e',
      object: 'chat.completion.chunk',
      created: 1732000001,
      model: 'llava-hf/llava-1.5-7b-hf',
      choices: [{ index: 0, delta: { content: 'The circle' }, logprobs: null, finish_reason: null }],
    },
    {
      id: 'chatcmpl-7d1e',
      object: 'chat.completion.chunk',
      created: 1732000001,
      model: 'llava-hf/llava-1.5-7b-hf',
      choices: [{ index: 0, delta: { content: ' is red.' }, logprobs: null, finish_reason: null }],
    },
    {
      id: 'chatcmpl-7d1e',
      object: 'chat.completion.chunk',
      created: 1732000001,
      model: 'llava-hf/llava-1.5-7b-hf',
      choices: [
        { index: 0, delta: { content: '' }, logprobs: null, finish_reason: 'stop', stop_reason: null },
      ],
    },
    {
      id: 'chatcmpl-7d1e',
      object: 'chat.completion.chunk',
      created: 1732000001,
      model: 'llava-hf/llava-1.5-7b-hf',
      choices: [],
      usage: { prompt_tokens: 601, total_tokens: 605, completion_tokens: 4 },
    },
    '[DONE]',
  ]),
};

export const llamaCpp = {
  // the id is the model file (or --alias); no max_model_len, `meta` instead
  models: {
    object: 'list',
    data: [
      {
        id: 'llava-v1.5-7b-Q4_K_M.gguf',
        object: 'model',
        created: 1732000000,
        owned_by: 'llamacpp',
        meta: {
          vocab_type: 1,
          n_vocab: 32000,
          n_ctx_train: 4096,
          n_embd: 4096,
          n_params: 6738415616,
          size: 4081004544,
        },
      },
    ],
  },
  props: {
    default_generation_settings: {
      id: 0,
      id_task: -1,
      n_ctx: 2048,
      speculative: false,
      is_processing: false,
      params: { n_predict: -1, temperature: 0.8, top_k: 40, top_p: 0.95 },
    },
    total_slots: 1,
    model_path: '/models/llava-v1.5-7b-Q4_K_M.gguf',
    chat_template: '{% for message in messages %}…{% endfor %}',
    modalities: { vision: true, audio: false },
    build_info: 'b5500-9ecf3e66',
  },
  // role with content null first; the last chunk carries finish_reason, usage and timings together
  stream: sse([
    {
      choices: [{ finish_reason: null, index: 0, delta: { role: 'assistant', content: null } }],
      created: 1732000001,
      id: 'chatcmpl-q9Xb',
      model: 'gpt-3.5-turbo',
      system_fingerprint: 'b5500-9ecf3e66',
      object: 'chat.completion.chunk',
    },
    {
      choices: [{ finish_reason: null, index: 0, delta: { content: 'A red' } }],
      created: 1732000001,
      id: 'chatcmpl-q9Xb',
      model: 'gpt-3.5-turbo',
      system_fingerprint: 'b5500-9ecf3e66',
      object: 'chat.completion.chunk',
    },
    {
      choices: [{ finish_reason: null, index: 0, delta: { content: ' circle.' } }],
      created: 1732000001,
      id: 'chatcmpl-q9Xb',
      model: 'gpt-3.5-turbo',
      system_fingerprint: 'b5500-9ecf3e66',
      object: 'chat.completion.chunk',
    },
    {
      choices: [{ finish_reason: 'stop', index: 0, delta: {} }],
      created: 1732000001,
      id: 'chatcmpl-q9Xb',
      model: 'gpt-3.5-turbo',
      system_fingerprint: 'b5500-9ecf3e66',
      object: 'chat.completion.chunk',
      usage: { completion_tokens: 3, prompt_tokens: 612, total_tokens: 615 },
      timings: {
        prompt_n: 612,
        prompt_ms: 182.4,
        prompt_per_token_ms: 0.298,
        prompt_per_second: 3355.2,
        predicted_n: 3,
        predicted_ms: 41.7,
        predicted_per_token_ms: 13.9,
        predicted_per_second: 71.9,
      },
    },
    '[DONE]',
  ]),
};

export const glimpseServe = {
  models: {
    object: 'list',
    data: [
      { id: 'tiny-shapes', object: 'model', created: 1732000000, owned_by: 'glimpse', max_model_len: 512 },
    ],
  },
  stream: sse([
    {
      id: 'chatcmpl-g1',
      object: 'chat.completion.chunk',
      created: 1732000001,
      model: 'tiny-shapes',
      choices: [{ index: 0, delta: { role: 'assistant' }, finish_reason: null }],
    },
    {
      id: 'chatcmpl-g1',
      object: 'chat.completion.chunk',
      created: 1732000001,
      model: 'tiny-shapes',
      choices: [{ index: 0, delta: { content: 'red circle' }, finish_reason: null }],
    },
    {
      id: 'chatcmpl-g1',
      object: 'chat.completion.chunk',
      created: 1732000001,
      model: 'tiny-shapes',
      choices: [{ index: 0, delta: {}, finish_reason: 'stop' }],
    },
    {
      id: 'chatcmpl-g1',
      object: 'chat.completion.chunk',
      created: 1732000001,
      model: 'tiny-shapes',
      choices: [],
      usage: { prompt_tokens: 80, completion_tokens: 2, total_tokens: 82 },
    },
    '[DONE]',
  ]),
};
