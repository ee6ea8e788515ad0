import type { StorageLike } from './index.js';
/** A StorageLike kept in one JSON file, written atomically (temp file, fsync, rename). */
export function fileStorage(file: string): StorageLike;
