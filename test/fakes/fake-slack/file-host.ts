import type { IncomingMessage, ServerResponse } from 'node:http';
import { AttachmentHost, type HostedBehaviour } from '../fake-discord/attachment-host.js';

export type { HostedBehaviour };

export interface HostFileInput {
  name: string;
  mimetype: string;
  body: Uint8Array;
  /** how the download answers (default: the bytes); the bot token is checked before any of them */
  behaviour?: HostedBehaviour;
  /** default: a fresh `F…` id */
  id?: string;
  /** what the file object claims (default: the body's length) */
  size?: number;
  /** `original_w` / `original_h` of an image */
  width?: number;
  height?: number;
  /** the uploader (default: the fake's user) */
  user?: string;
  title?: string;
}

/** The file object Slack sends in `event.files` and answers in `files.info` (the fields a bot reads). */
export interface SlackFile {
  id: string;
  created: number;
  timestamp: number;
  name: string;
  title: string;
  mimetype: string;
  filetype: string;
  pretty_type: string;
  user: string;
  user_team: string;
  mode: 'hosted';
  editable: boolean;
  is_external: boolean;
  external_type: string;
  is_public: boolean;
  size: number;
  url_private: string;
  url_private_download: string;
  permalink: string;
  original_w?: number;
  original_h?: number;
  [field: string]: unknown;
}

const FILETYPES: Record<string, [string, string]> = {
  'image/png': ['png', 'PNG'],
  'image/jpeg': ['jpg', 'JPEG'],
  'image/gif': ['gif', 'GIF'],
  'image/webp': ['webp', 'WebP'],
  'image/heic': ['heic', 'HEIC'],
  'image/svg+xml': ['svg', 'SVG'],
  'text/plain': ['text', 'Plain Text'],
  'application/pdf': ['pdf', 'PDF'],
};

/** What Slack answers a file URL fetched without a token that may read it: a sign-in page, status 200. */
export const SLACK_LOGIN_PAGE =
  '<!DOCTYPE html><html lang="en-US"><head><meta charset="utf-8"><title>Slack</title></head>' +
  '<body><div id="page"><h1>Sign in to your workspace</h1><form action="/signin" method="post"></form></div></body></html>';

let fileCounter = 0;

/** Private files under `/files-pri/<team>-<id>/<name>` (and `/download/<name>`), served to the bot token only. */
export class FileHost {
  readonly files = new Map<string, SlackFile>();
  private readonly host = new AttachmentHost();

  constructor(
    private readonly origin: string,
    private readonly teamId: string,
    private readonly teamDomain: string,
    private readonly defaultUser: string,
  ) {}

  add(input: HostFileInput): SlackFile {
    fileCounter++;
    const id = input.id ?? `F0FAKE${String(fileCounter).padStart(5, '0')}`;
    const name = encodeURIComponent(input.name);
    const base = `/files-pri/${this.teamId}-${id}`;
    const stored = {
      body: input.body,
      contentType: input.mimetype,
      behaviour: input.behaviour ?? { type: 'bytes' },
    };
    this.host.set(`${base}/${name}`, stored);
    this.host.set(`${base}/download/${name}`, stored);
    const [filetype, pretty] = FILETYPES[input.mimetype] ?? ['binary', 'Binary'];
    const now = Math.floor(Date.now() / 1000);
    const file: SlackFile = {
      id,
      created: now,
      timestamp: now,
      name: input.name,
      title: input.title ?? input.name,
      mimetype: input.mimetype,
      filetype,
      pretty_type: pretty,
      user: input.user ?? this.defaultUser,
      user_team: this.teamId,
      mode: 'hosted',
      editable: false,
      is_external: false,
      external_type: '',
      is_public: true,
      size: input.size ?? input.body.byteLength,
      url_private: `${this.origin}${base}/${name}`,
      url_private_download: `${this.origin}${base}/download/${name}`,
      permalink: `https://${this.teamDomain}.slack.com/files/${input.user ?? this.defaultUser}/${id}/${name}`,
      ...(input.width === undefined ? {} : { original_w: input.width }),
      ...(input.height === undefined ? {} : { original_h: input.height }),
    };
    this.files.set(id, file);
    return file;
  }

  /** answers a download; returns the status sent */
  serve(path: string, authorized: boolean, request: IncomingMessage, response: ServerResponse): number {
    if (!this.host.has(path)) {
      response.writeHead(404, { 'content-type': 'text/plain', 'content-length': '9' });
      response.end('Not Found');
      return 404;
    }
    if (!authorized) {
      response.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'content-length': String(Buffer.byteLength(SLACK_LOGIN_PAGE)),
      });
      response.end(SLACK_LOGIN_PAGE);
      return 200;
    }
    return this.host.serve(path, request, response);
  }
}
