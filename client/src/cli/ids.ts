/**
 * Upload ids are 22 base64url characters, so about one in 64 begins with "-", which parseArgs
 * would take for an option (`ingest status -q3Zk…` or `--resume -q3Zk…`). Such a word cannot be
 * one of our options (none is 22 characters of that alphabet), so it is set aside before parsing
 * and put back after, wherever it landed: a positional or an option's value.
 */
const DASHED_ID = /^-[A-Za-z0-9_-]{21}$/;

export function shieldIds(argv: readonly string[]): { args: string[]; restore: (word: string) => string } {
  const saved = new Map<string, string>();
  const end = argv.indexOf("--");
  const args = argv.map((word, index) => {
    if ((end !== -1 && index > end) || !DASHED_ID.test(word)) return word;
    // A placeholder no shell word can spell, and no option name starts with.
    const placeholder = `\u0000id${saved.size}`;
    saved.set(placeholder, word);
    return placeholder;
  });
  return { args, restore: (word) => saved.get(word) ?? word };
}
