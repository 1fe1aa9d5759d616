import type { MasterKey } from '../crypto/master-key.js';

/**
 * True when every file `src` wrote can be read, and every blob id it computed is valid,
 * in `dst`: the same id key, and each of src's data keys present in dst under the same
 * id. Then packs and sealed files can be copied byte for byte (a mirror).
 */
export function sharesMasterKey(src: MasterKey, dst: MasterKey): boolean {
  if (!src.idKey.equals(dst.idKey)) return false;
  return src.encKeys.every((k) => dst.encKeys.some((d) => d.id === k.id && d.key.equals(k.key)));
}
