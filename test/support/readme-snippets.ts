import { readFileSync } from 'node:fs';

/**
 * The README's executable snippets. The convention (also in the README's "Contributing" notes):
 * a ```sh fence whose opening line directly follows the line `<!-- readme-test -->` is run by
 * test/integration/first-hour.test.ts against a running local cloud; every other fence is
 * documentation only.
 */
export const README_TEST_MARKER = '<!-- readme-test -->';

export interface ReadmeSnippet {
  /** 1-based line of the opening fence. */
  readonly line: number;
  /** The nearest heading above it, for test names. */
  readonly section: string;
  readonly script: string;
}

export function readmeSnippets(markdown: string): ReadmeSnippet[] {
  const lines = markdown.split('\n');
  const snippets: ReadmeSnippet[] = [];
  let section = '(top)';
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!;
    const heading = /^#{1,6}\s+(.*)$/.exec(line);
    if (heading) section = heading[1]!.trim();
    if (line.trim() !== README_TEST_MARKER) continue;
    const fence = lines[index + 1] ?? '';
    if (!/^```(sh|bash|shell)\s*$/.test(fence)) {
      throw new Error(`README.md:${index + 1}: ${README_TEST_MARKER} must be followed directly by a \`\`\`sh fence. Found ${JSON.stringify(fence)}`);
    }
    const end = lines.findIndex((candidate, at) => at > index + 1 && candidate.trim() === '```');
    if (end === -1) throw new Error(`README.md:${index + 2}: the fence is never closed`);
    snippets.push({ line: index + 2, section, script: lines.slice(index + 2, end).join('\n') });
    index = end;
  }
  return snippets;
}

export const readReadmeSnippets = (path: string): ReadmeSnippet[] => readmeSnippets(readFileSync(path, 'utf8'));
