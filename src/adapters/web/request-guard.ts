import type { IncomingMessage } from 'node:http';

const loopbackHosts = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export function isLoopbackHost(host: string): boolean {
  return loopbackHosts.has(host) || /^127(\.\d{1,3}){3}$/.test(host);
}

/**
 * Guards a loopback-only playground against other web sites: a page elsewhere must not be able
 * to post to it (the `Origin` must be the playground's own), nor reach it through a DNS name that
 * resolves to 127.0.0.1 (the `Host` must be a loopback name when listening on loopback).
 * Returns the reason to refuse, or undefined.
 */
export function refusalReason(request: IncomingMessage, listenHost: string): string | undefined {
  const host = request.headers.host ?? '';
  if (isLoopbackHost(listenHost)) {
    const hostname = host.replace(/:\d+$/, '');
    if (!isLoopbackHost(hostname)) return 'host-not-loopback';
  }
  const origin = request.headers.origin;
  if (request.method !== 'GET' && request.method !== 'HEAD' && origin !== undefined) {
    let originHost: string;
    try {
      originHost = new URL(origin).host;
    } catch {
      return 'origin-invalid';
    }
    if (originHost !== host) return 'origin-mismatch';
  }
  return undefined;
}
