import type { DiscordConfig } from '../../config.js';
import { passesAccessList } from '../shared/access-list.js';

/** Where a Discord event happened and who sent it, as the access rules see it. */
export interface DiscordPlace {
  guildId?: string;
  /** the channel, its thread parent and its category: any of them may be listed */
  channelIds: string[];
  roleIds: string[];
  userId: string;
  isDm: boolean;
}

const passes = passesAccessList;

/**
 * Whether Glimpse answers here: deny lists win, a non-empty allow list admits only what it names
 * (a thread counts as its parent channel and that channel's category), and DMs can be turned off.
 * In a DM only the user lists apply.
 */
export function discordAllows(config: Pick<DiscordConfig, 'access' | 'dms'>, place: DiscordPlace): boolean {
  const { access } = config;
  if (!passes(access.users, [place.userId])) return false;
  if (place.isDm) return config.dms;
  if (!place.guildId || !passes(access.guilds, [place.guildId])) return false;
  if (!passes(access.channels, place.channelIds)) return false;
  const rolesListed = access.roles.allow.length > 0 || access.roles.deny.length > 0;
  return !rolesListed || passes(access.roles, place.roleIds);
}
