import type { TreeNode } from '../../snapshot/tree.js';

/**
 * An object's metadata as `user.s3.*` xattrs on its tree node (docs/sources/s3.md).
 * Xattrs, because then a restore to a directory keeps them with the file (getfattr
 * shows them) and a restore to a bucket reads them back, with no new tree field.
 *
 *   user.s3.etag                 ETag as listed (quotes removed); with size and
 *                                LastModified (the node's mtime) it decides "unchanged"
 *   user.s3.storage-class        as listed (STANDARD when the store does not say)
 *   user.s3.content-type, .content-encoding, .content-language, .cache-control,
 *   .content-disposition, .expires, .website-redirect-location
 *   user.s3.meta.NAME            each x-amz-meta-NAME (names as S3 returns them: lower case)
 */

/** What ListObjectsV2 says about one object. */
export interface ListedObject {
  key: string;
  size: number;
  etag: string;
  lastModified: Date;
  storageClass: string;
}

/** The headers of an object that a restore to a bucket sets again. */
export interface ObjectHeaders {
  contentType?: string;
  contentEncoding?: string;
  contentLanguage?: string;
  cacheControl?: string;
  contentDisposition?: string;
  expires?: string;
  websiteRedirectLocation?: string;
  metadata?: Record<string, string>;
}

const HEADER_XATTRS: [keyof Omit<ObjectHeaders, 'metadata'>, string][] = [
  ['contentType', 'content-type'],
  ['contentEncoding', 'content-encoding'],
  ['contentLanguage', 'content-language'],
  ['cacheControl', 'cache-control'],
  ['contentDisposition', 'content-disposition'],
  ['expires', 'expires'],
  ['websiteRedirectLocation', 'website-redirect-location'],
];

const P = 'user.s3.';
const META = 'user.s3.meta.';

export function cleanEtag(etag: string | undefined): string {
  return (etag ?? '').replace(/^"|"$/g, '');
}

/** The xattrs of an object, sorted by name as the tree format wants. */
export function objectXattrs(etag: string, storageClass: string, h: ObjectHeaders): { name: string; value: string }[] {
  const out: [string, string][] = [
    [P + 'etag', etag],
    [P + 'storage-class', storageClass],
  ];
  for (const [field, name] of HEADER_XATTRS) {
    const v = h[field];
    if (v !== undefined && v !== '') out.push([P + name, v]);
  }
  for (const [k, v] of Object.entries(h.metadata ?? {})) out.push([META + k.toLowerCase(), v]);
  out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return out.map(([name, value]) => ({ name, value: Buffer.from(value, 'utf8').toString('base64') }));
}

/** The recorded headers, ETag and storage class of a node (from any snapshot: absent fields stay absent). */
export function headersFromXattrs(xattrs: TreeNode['xattrs']): ObjectHeaders & { etag?: string; storageClass?: string } {
  const out: ObjectHeaders & { etag?: string; storageClass?: string } = {};
  for (const x of xattrs ?? []) {
    if (!x.name.startsWith(P)) continue;
    const v = Buffer.from(x.value, 'base64').toString('utf8');
    if (x.name.startsWith(META)) {
      (out.metadata ??= {})[x.name.slice(META.length)] = v;
      continue;
    }
    const name = x.name.slice(P.length);
    if (name === 'etag') out.etag = v;
    else if (name === 'storage-class') out.storageClass = v;
    else {
      const field = HEADER_XATTRS.find(([, n]) => n === name)?.[0];
      if (field) out[field] = v;
    }
  }
  return out;
}

export function xattrValue(node: TreeNode | undefined, name: string): string | undefined {
  const x = node?.xattrs?.find((a) => a.name === name);
  return x ? Buffer.from(x.value, 'base64').toString('utf8') : undefined;
}

/** The same xattrs with the storage class replaced (a lifecycle transition keeps ETag and LastModified). */
export function withStorageClass(xattrs: TreeNode['xattrs'], storageClass: string): TreeNode['xattrs'] {
  return (xattrs ?? []).map((x) => (x.name === P + 'storage-class' ? { name: x.name, value: Buffer.from(storageClass).toString('base64') } : x));
}

/** LastModified as the tree's nanosecond string. */
export function nsOf(d: Date): string {
  return (BigInt(d.getTime()) * 1_000_000n).toString();
}

/** A node for an object or a directory: fixed owner and modes, times from LastModified. */
export function objectNode(name: { name?: string; nameRaw?: string }, type: 'file' | 'dir', mtimeNs: string): TreeNode {
  return { ...name, type, mode: type === 'dir' ? 0o755 : 0o644, uid: 0, gid: 0, mtime: mtimeNs, atime: mtimeNs, ctime: mtimeNs };
}

/**
 * Same object as in the parent snapshot: same size, ETag and LastModified. Any change
 * to an object (even a metadata-only copy onto itself) gives it a new LastModified.
 */
export function unchangedObject(parent: TreeNode | undefined, o: ListedObject, type: 'file' | 'dir'): boolean {
  return (
    parent !== undefined &&
    parent.type === type &&
    (type === 'dir' || (parent.size === o.size && Array.isArray(parent.content))) &&
    parent.mtime === nsOf(o.lastModified) &&
    xattrValue(parent, P + 'etag') === o.etag
  );
}
