/* Files held in memory for a server, lent to sockets without a copy
 * (tern_send_lent): tern's stand-in for the page cache the kernel's
 * sendfile sends from.  An entry is found by the file's device and inode
 * and used only while the file's size, mtime and ctime are what they were
 * when it was read, so one stat(2) a request checks it.
 *
 * A file changed within the same tick of the file system's clock as it
 * was read would keep its timestamps; so a file is read in only once it
 * has been left alone for two seconds (its ctime, which no one can set,
 * against the caller's wall clock): a newer one is served from the file,
 * every time.  Entries go least recently used first when the cache is
 * over its bytes; one still lent to a send buffer is freed when the last
 * reference goes.  One cache per stack's thread: nothing is locked. */
#ifndef TERN_APP_FILECACHE_H
#define TERN_APP_FILECACHE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "tern/tern.h"

struct tn_fcentry {
	struct tern_lent lent;        /* the cache's (while indexed) + each user's */
	const uint8_t *data;          /* the file's bytes */
	uint64_t size;
	/* the cache's own */
	struct tn_fcentry *hnext, *older, *newer;
	dev_t dev;
	ino_t ino;
	struct timespec mtim, ctim;
	bool indexed;
};

struct tn_filecache_stats {
	uint64_t hits, fills;
	uint64_t unsettled;           /* files too new to be read in */
	uint64_t cold;                /* files not all in the page cache: not read in */
	uint64_t evicted;             /* entries dropped for room */
	uint64_t stale;               /* entries dropped: their file changed */
	uint64_t bytes, entries;      /* held now */
};

struct tn_filecache;
/* budget: bytes held at most; a file larger than an eighth of it is not
 * read in.  NULL when out of memory. */
struct tn_filecache *tn_filecache_new(uint64_t budget);
/* Entries still lent live on until their last reference goes. */
void tn_filecache_free(struct tn_filecache *fc);
/* The entry for the file sb describes (from stat), with a reference
 * taken, or NULL (not held, or its file changed since: dropped). */
struct tn_fcentry *tn_filecache_get(struct tn_filecache *fc, const struct stat *sb);
/* Read the file fd (sb: its fstat) into a new entry, with a reference
 * taken; NULL if it is too large, changed in the last two seconds (now:
 * wall-clock seconds), is not all in the page cache (the caller's own
 * reads bring it in, a send buffer's worth at a time), or changes while
 * read. */
struct tn_fcentry *tn_filecache_fill(struct tn_filecache *fc, int fd, const struct stat *sb, int64_t now);
static inline void tn_fcentry_put(struct tn_fcentry *e) { tern_lent_put(&e->lent); }
const struct tn_filecache_stats *tn_filecache_stats(const struct tn_filecache *fc);

#endif
