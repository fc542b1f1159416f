/**
 * Real file-system faults for root: root ignores permission bits, so an unwritable directory is a
 * read-only mount (EROFS) and a full one a small tmpfs (ENOSPC). Mounting needs root with
 * CAP_SYS_ADMIN (the case in .ci/run); anywhere else the test fails with this explanation.
 */
import { execFileSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';

export interface Mounted {
  dir: string;
  unmount(): void;
}

export async function mountTmpfs(dir: string, options: { sizeKb: number; readOnly?: boolean }): Promise<Mounted> {
  await mkdir(dir, { recursive: true });
  const opts = [`size=${options.sizeKb}k`, 'mode=0755', ...(options.readOnly === true ? ['ro'] : [])].join(',');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', opts, 'tmpfs', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new Error(`the backup fault tests mount a tmpfs (read-only, or tiny to be full) and need root with CAP_SYS_ADMIN, as in .ci/run: ${why}`);
  }
  return {
    dir,
    // Lazy: a file still open by a killed process must not leave the mount behind.
    unmount: () => execFileSync('umount', ['-l', dir], { stdio: ['ignore', 'pipe', 'pipe'] }),
  };
}
