const DISCORD_EPOCH = 1_420_070_400_000n;
let increment = 0n;

/** A Discord-shaped snowflake (timestamp in the high bits, so discord.js's `createdTimestamp` is now). */
export function nextSnowflake(at: number = Date.now()): string {
  increment = (increment + 1n) & 0xfffn;
  return (((BigInt(at) - DISCORD_EPOCH) << 22n) | (1n << 17n) | increment).toString();
}
