/** Commander argument parser for repeatable options: `--tag a --tag b` → ['a', 'b']. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
