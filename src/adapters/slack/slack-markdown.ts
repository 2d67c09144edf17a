/**
 * Markdown (what the model writes) → Slack's mrkdwn, for messages posted as plain `text`: bold,
 * italics, strike-through, links and headings change; code spans and fences are left as they are.
 * Native streaming takes Markdown itself and needs none of this.
 */
export function toSlackMrkdwn(markdown: string): string {
  return markdown
    .split(/(```[\s\S]*?```|`[^`\n]+`)/g)
    .map((piece, index) => (index % 2 === 1 ? piece : convertProse(piece)))
    .join('');
}

function convertProse(text: string): string {
  return text
    .replace(/^#{1,6}\s+(.+)$/gm, '**$1**')
    .replace(/\*\*(.+?)\*\*|__(.+?)__|(^|[^*\w])\*(?!\s)([^*\n]+?)\*(?!\w)/g, (_m, b1, b2, pre, it) =>
      it !== undefined ? `${pre}_${it}_` : `*${b1 ?? b2}*`,
    )
    .replace(/~~(.+?)~~/g, '~$1~')
    .replace(/\[([^\]\n]+)\]\((https?:\/\/[^)\s]+)\)/g, '<$2|$1>')
    .replace(/^(\s*)[-*] /gm, '$1• ');
}
