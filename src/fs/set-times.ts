import { lutimesSync, utimesSync } from 'node:fs';
import { native } from '../util/native-addon.js';

const NS_PER_SEC = 1_000_000_000n;

/**
 * Sets atime and mtime, nanosecond-exact with the addon (utimensat). `nofollow` sets the
 * times of a symlink itself rather than of its target.
 *
 * Without the addon it falls back to fs.utimes/lutimes, whose libuv implementation
 * truncates to whole microseconds; the sub-microsecond digits are lost. Two traps of that
 * API are avoided here: a negative Number means "now" to node:fs (so times before 1970
 * would silently become the current time) and a float loses precision, so the time is
 * passed as a decimal string placed half a microsecond inside the wanted microsecond,
 * which libuv then truncates to exactly that microsecond (for dates before ~2106).
 */
export function setTimesSync(path: Buffer, atimeNs: bigint, mtimeNs: bigint, nofollow: boolean): void {
  if (native) {
    const [aSec, aNsec] = splitNs(atimeNs);
    const [mSec, mNsec] = splitNs(mtimeNs);
    native.utimensat(path, aSec, aNsec, mSec, mNsec, nofollow);
    return;
  }
  const atime = microsecondSeconds(atimeNs);
  const mtime = microsecondSeconds(mtimeNs);
  if (nofollow) lutimesSync(path, atime, mtime);
  else utimesSync(path, atime, mtime);
}

/** Floor division, so that nanoseconds are always in [0, 1e9) as utimensat demands. */
export function splitNs(ns: bigint): [bigint, number] {
  let sec = ns / NS_PER_SEC;
  let rest = ns % NS_PER_SEC;
  if (rest < 0n) {
    rest += NS_PER_SEC;
    sec -= 1n;
  }
  return [sec, Number(rest)];
}

/**
 * Seconds as a decimal string that libuv turns into the microsecond containing `ns`.
 * libuv truncates toward zero (tv_nsec -= tv_nsec % 1000) and then fixes up a negative
 * tv_nsec, so a positive time is nudged up by 500 ns and a negative one down by 500 ns.
 */
function microsecondSeconds(ns: bigint): string {
  const [sec, nsec] = splitNs(ns);
  const target = sec * NS_PER_SEC + BigInt(nsec - (nsec % 1000) + (sec < 0n ? -500 : 500));
  // Exact decimal text: node:fs parses it with one rounding, to the nearest double.
  const abs = target < 0n ? -target : target;
  const frac = (abs % NS_PER_SEC).toString().padStart(9, '0');
  return `${target < 0n ? '-' : ''}${abs / NS_PER_SEC}.${frac}`;
}
