import type { AccessList } from '../../config.js';

/**
 * Whether `ids` (a user; or a channel with its parents) pass an allow/deny list: any denied id
 * refuses, and a non-empty allow list admits only when one of the ids is on it.
 */
export function passesAccessList(list: AccessList, ids: readonly string[]): boolean {
  if (ids.some((id) => list.deny.includes(id))) return false;
  return list.allow.length === 0 || ids.some((id) => list.allow.includes(id));
}
