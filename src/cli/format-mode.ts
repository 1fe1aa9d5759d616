const TYPE_CHARS: Record<string, string> = {
  file: '-',
  dir: 'd',
  symlink: 'l',
  dev: 'b',
  chardev: 'c',
  fifo: 'p',
  socket: 's',
};

/** `ls -l` style permissions, e.g. ("dir", 0o755) → "drwxr-xr-x". */
export function formatMode(type: string, mode: number): string {
  const t = TYPE_CHARS[type] ?? '?';
  const bits = 'rwxrwxrwx';
  let perm = '';
  for (let i = 0; i < 9; i++) perm += mode & (1 << (8 - i)) ? bits[i] : '-';
  const chars = perm.split('');
  const special = (i: number, bit: number, on: string, off: string): void => {
    if (mode & bit) chars[i] = chars[i] === '-' ? off : on;
  };
  special(2, 0o4000, 's', 'S');
  special(5, 0o2000, 's', 'S');
  special(8, 0o1000, 't', 'T');
  return t + chars.join('');
}
