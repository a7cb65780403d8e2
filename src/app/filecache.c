#include "app/filecache.h"

#include <errno.h>
#include <sys/uio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/hash.h"

/* A file is read in once its ctime is this many seconds old (see the
 * header: a change in the same clock tick keeps the timestamps). */
#define SETTLE_SECONDS 2

struct tn_filecache {
	uint64_t budget, max_file;
	struct tn_fcentry **buckets;
	uint32_t nbuckets;            /* a power of two */
	struct tn_fcentry *newest, *oldest;
	struct tn_filecache_stats st;
};

static uint32_t bucket_of(const struct tn_filecache *fc, dev_t dev, ino_t ino)
{
	return (uint32_t)tn_hash_mix((uint64_t)ino ^ tn_hash_mix((uint64_t)dev)) & (fc->nbuckets - 1);
}

struct tn_filecache *tn_filecache_new(uint64_t budget)
{
	struct tn_filecache *fc = calloc(1, sizeof(*fc));
	if (!fc)
		return NULL;
	fc->budget = budget;
	fc->max_file = budget / 8;
	fc->nbuckets = 256;
	if (!(fc->buckets = calloc(fc->nbuckets, sizeof(*fc->buckets)))) {
		free(fc);
		return NULL;
	}
	return fc;
}

/* The last reference went: the entry is out of the index already (the
 * index holds one while it is in). */
static void entry_release(struct tern_lent *l) { free(l); }

static void lru_unlink(struct tn_filecache *fc, struct tn_fcentry *e)
{
	*(e->newer ? &e->newer->older : &fc->newest) = e->older;
	*(e->older ? &e->older->newer : &fc->oldest) = e->newer;
	e->older = e->newer = NULL;
}

static void lru_push(struct tn_filecache *fc, struct tn_fcentry *e)
{
	e->older = fc->newest;
	e->newer = NULL;
	*(fc->newest ? &fc->newest->newer : &fc->oldest) = e;
	fc->newest = e;
}

static void unindex(struct tn_filecache *fc, struct tn_fcentry *e)
{
	struct tn_fcentry **pp = &fc->buckets[bucket_of(fc, e->dev, e->ino)];
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(fc, e);
	e->indexed = false;
	fc->st.bytes -= e->size;
	fc->st.entries--;
	tn_fcentry_put(e); /* the index's reference */
}

void tn_filecache_free(struct tn_filecache *fc)
{
	if (!fc)
		return;
	while (fc->oldest)
		unindex(fc, fc->oldest);
	free(fc->buckets);
	free(fc);
}

static bool same_file(const struct tn_fcentry *e, const struct stat *sb)
{
	return e->size == (uint64_t)sb->st_size && e->mtim.tv_sec == sb->st_mtim.tv_sec &&
	       e->mtim.tv_nsec == sb->st_mtim.tv_nsec && e->ctim.tv_sec == sb->st_ctim.tv_sec &&
	       e->ctim.tv_nsec == sb->st_ctim.tv_nsec;
}

struct tn_fcentry *tn_filecache_get(struct tn_filecache *fc, const struct stat *sb)
{
	struct tn_fcentry *e = fc->buckets[bucket_of(fc, sb->st_dev, sb->st_ino)];
	while (e && !(e->ino == sb->st_ino && e->dev == sb->st_dev))
		e = e->hnext;
	if (!e)
		return NULL;
	if (!same_file(e, sb)) {
		fc->st.stale++;
		unindex(fc, e);
		return NULL;
	}
	lru_unlink(fc, e);
	lru_push(fc, e);
	e->lent.refs++;
	fc->st.hits++;
	return e;
}

/* Twice the buckets once there are more entries than buckets. */
static void grow(struct tn_filecache *fc)
{
	uint32_t n = fc->nbuckets * 2;
	struct tn_fcentry **b = calloc(n, sizeof(*b));
	if (!b)
		return; /* longer chains, still correct */
	struct tn_fcentry **old = fc->buckets;
	uint32_t oldn = fc->nbuckets;
	fc->buckets = b;
	fc->nbuckets = n;
	for (uint32_t i = 0; i < oldn; i++)
		for (struct tn_fcentry *e = old[i], *next; e; e = next) {
			next = e->hnext;
			uint32_t k = bucket_of(fc, e->dev, e->ino);
			e->hnext = b[k];
			b[k] = e;
		}
	free(old);
}

static void insert(struct tn_filecache *fc, struct tn_fcentry *e)
{
	if (fc->st.entries >= fc->nbuckets)
		grow(fc);
	uint32_t k = bucket_of(fc, e->dev, e->ino);
	e->hnext = fc->buckets[k];
	fc->buckets[k] = e;
	lru_push(fc, e);
	e->indexed = true;
	fc->st.bytes += e->size;
	fc->st.entries++;
	while (fc->st.bytes > fc->budget && fc->oldest != e) {
		fc->st.evicted++;
		unindex(fc, fc->oldest);
	}
}

/* All of the file's size bytes into data, from the page cache only
 * (RWF_NOWAIT): a core must not stall on the disk for a whole file when
 * the request needs only its first send buffer's worth.  False if the
 * file ended early or *cold: part of it is not in memory.  A file system
 * without RWF_NOWAIT is read as it is. */
static bool read_all(int fd, uint8_t *data, uint64_t size, bool *cold)
{
	int flags = RWF_NOWAIT;
	*cold = false;
	for (uint64_t got = 0; got < size;) {
		struct iovec iov = {data + got, size - got};
		ssize_t k = preadv2(fd, &iov, 1, (off_t)got, flags);
		if (k < 0 && errno == EOPNOTSUPP && flags) {
			flags = 0;
			continue;
		}
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == EAGAIN)
			*cold = true;
		if (k <= 0)
			return false;
		got += (uint64_t)k;
	}
	return true;
}

struct tn_fcentry *tn_filecache_fill(struct tn_filecache *fc, int fd, const struct stat *sb, int64_t now)
{
	if (sb->st_size <= 0 || (uint64_t)sb->st_size > fc->max_file)
		return NULL;
	if (sb->st_ctim.tv_sec + SETTLE_SECONDS > now) {
		fc->st.unsettled++;
		return NULL;
	}
	struct tn_fcentry *old = tn_filecache_get(fc, sb);
	if (old)
		return old; /* read in by an earlier request after all */
	uint64_t size = (uint64_t)sb->st_size;
	struct tn_fcentry *e = malloc(sizeof(*e) + size);
	if (!e)
		return NULL;
	*e = (struct tn_fcentry){.lent = {.refs = 1, .release = entry_release}, .data = (uint8_t *)(e + 1),
				 .size = size, .dev = sb->st_dev, .ino = sb->st_ino, .mtim = sb->st_mtim,
				 .ctim = sb->st_ctim};
	struct stat after;
	bool cold;
	if (!read_all(fd, (uint8_t *)(e + 1), size, &cold) || fstat(fd, &after) < 0 || !same_file(e, &after)) {
		fc->st.cold += cold;
		free(e);
		return NULL;
	}
	fc->st.fills++;
	e->lent.refs++; /* the caller's; the first is the index's */
	insert(fc, e);
	return e;
}

const struct tn_filecache_stats *tn_filecache_stats(const struct tn_filecache *fc) { return &fc->st; }
