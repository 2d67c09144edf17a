import { WebRequestError } from './web-request-error.js';

export interface UploadedFile {
  name: string;
  bytes: Uint8Array;
}

export interface ParsedUpload {
  text: string;
  files: UploadedFile[];
}

export interface UploadLimits {
  maxTextChars: number;
  maxFiles: number;
}

const formTypes = ['multipart/form-data', 'application/x-www-form-urlencoded'];

/**
 * Parses a message form (`text`, and `image` files) with the web platform's own multipart parser
 * (`Request.formData`). The bytes were read and bounded before this.
 */
export async function parseUpload(
  contentType: string | undefined,
  body: Uint8Array<ArrayBuffer>,
  limits: UploadLimits,
): Promise<ParsedUpload> {
  const mediaType = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (!formTypes.includes(mediaType)) {
    throw new WebRequestError(
      415,
      'web_unsupported_media_type',
      'Send the question as a form (multipart/form-data).',
      { contentType: mediaType || undefined },
    );
  }
  let form: FormData;
  try {
    form = await new Request('http://playground.invalid/', {
      method: 'POST',
      headers: { 'content-type': contentType ?? '' },
      body,
    }).formData();
  } catch (error) {
    throw new WebRequestError(
      400,
      'web_upload_malformed',
      'The upload could not be read; please try again.',
      {
        reason: error instanceof Error ? error.message : String(error),
      },
    );
  }
  const rawText = form.get('text');
  const text = typeof rawText === 'string' ? rawText.trim() : '';
  const files: UploadedFile[] = [];
  for (const value of form.getAll('image')) {
    if (typeof value === 'string') {
      if (value === '') continue;
      throw new WebRequestError(400, 'web_upload_malformed', 'The image field must hold a file.');
    }
    // an empty file input sends a nameless empty part: nothing chosen. A named empty file is an
    // upload gone wrong, and ingest says so.
    if (value.size === 0 && value.name === '') continue;
    files.push({ name: value.name || 'image', bytes: new Uint8Array(await value.arrayBuffer()) });
  }
  if (text === '') {
    throw new WebRequestError(
      400,
      'web_text_missing',
      files.length > 0 ? 'Ask a question about the image.' : 'Type a question first.',
    );
  }
  if (text.length > limits.maxTextChars) {
    throw new WebRequestError(
      413,
      'web_text_too_long',
      `Your message is too long (${text.length} characters; the limit is ${limits.maxTextChars}).`,
      { chars: text.length, maxTextChars: limits.maxTextChars },
    );
  }
  if (files.length > limits.maxFiles) {
    throw new WebRequestError(
      400,
      'glimpse_too_many_images',
      `Attach at most ${limits.maxFiles} image${limits.maxFiles === 1 ? '' : 's'} per message.`,
      { files: files.length, maxFiles: limits.maxFiles },
    );
  }
  return { text, files };
}
