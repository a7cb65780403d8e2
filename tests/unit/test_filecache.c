/* The file cache (app/filecache.c) on its own: hundreds of files (the
 * index grows past its first buckets), each found again with its own
 * bytes; files too new, empty or too large not read in; a changed file's
 * entry dropped; an entry outliving the cache while it is lent; a file
 * out of the page cache not read in.  Files are memfds (each its own
 * inode), and one on disk. */
#include <errno.h>
#include <fcntl.h>
#include <sys/uio.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "app/filecache.h"

#define NFILES 600

/* A file of n bytes, byte i being (i + seed) % 251. */
static int make_file(uint32_t n, uint32_t seed)
{
	int f = memfd_create("filecache-test", 0);
	assert_true(f >= 0);
	uint8_t *b = malloc(n ? n : 1);
	assert_non_null(b);
	for (uint32_t i = 0; i < n; i++)
		b[i] = (uint8_t)((i + seed) % 251);
	assert_int_equal(pwrite(f, b, n, 0), (ssize_t)n);
	free(b);
	return f;
}

static void assert_bytes(const struct tn_fcentry *e, uint32_t n, uint32_t seed)
{
	assert_int_equal(e->size, n);
	for (uint32_t i = 0; i < n; i++)
		if (e->data[i] != (uint8_t)((i + seed) % 251))
			fail_msg("byte %u of the file with seed %u", i, seed);
}

/* Well past any file's ctime: every file here is settled. */
static int64_t later(void) { return (int64_t)time(NULL) + 10; }

static void test_many_files_found_again(void **state)
{
	struct tn_filecache *fc = tn_filecache_new(64u << 20);
	assert_non_null(fc);
	static int fds[NFILES];
	struct stat sb;
	for (uint32_t i = 0; i < NFILES; i++) {
		fds[i] = make_file(100 + i, i);
		assert_int_equal(fstat(fds[i], &sb), 0);
		assert_null(tn_filecache_get(fc, &sb));
		struct tn_fcentry *e = tn_filecache_fill(fc, fds[i], &sb, later());
		assert_non_null(e);
		assert_bytes(e, 100 + i, i);
		tn_fcentry_put(e);
	}
	const struct tn_filecache_stats *st = tn_filecache_stats(fc);
	assert_int_equal(st->entries, NFILES);
	assert_int_equal(st->fills, NFILES);
	for (uint32_t i = 0; i < NFILES; i++) {
		assert_int_equal(fstat(fds[i], &sb), 0);
		struct tn_fcentry *e = tn_filecache_get(fc, &sb);
		assert_non_null(e);
		assert_bytes(e, 100 + i, i);
		tn_fcentry_put(e);
	}
	assert_int_equal(st->hits, NFILES);
	/* a fill of a file already held gives the held entry */
	assert_int_equal(fstat(fds[7], &sb), 0);
	struct tn_fcentry *e = tn_filecache_fill(fc, fds[7], &sb, later());
	assert_non_null(e);
	assert_int_equal(st->fills, NFILES);
	tn_fcentry_put(e);
	for (uint32_t i = 0; i < NFILES; i++)
		close(fds[i]);
	tn_filecache_free(fc);
}

static void test_files_not_read_in(void **state)
{
	struct tn_filecache *fc = tn_filecache_new(8000); /* files up to 1000 bytes */
	const struct tn_filecache_stats *st = tn_filecache_stats(fc);
	struct stat sb;
	int f = make_file(500, 1);
	assert_int_equal(fstat(f, &sb), 0);
	assert_null(tn_filecache_fill(fc, f, &sb, (int64_t)time(NULL))); /* written just now */
	assert_int_equal(st->unsettled, 1);
	int empty = make_file(0, 0), big = make_file(1001, 0);
	assert_int_equal(fstat(empty, &sb), 0);
	assert_null(tn_filecache_fill(fc, empty, &sb, later()));
	assert_int_equal(fstat(big, &sb), 0);
	assert_null(tn_filecache_fill(fc, big, &sb, later()));
	/* the stat says more than the file holds (it shrank after the stat) */
	assert_int_equal(fstat(f, &sb), 0);
	assert_int_equal(ftruncate(f, 400), 0);
	assert_null(tn_filecache_fill(fc, f, &sb, later()));
	assert_int_equal(st->fills, 0);
	assert_int_equal(st->entries, 0);
	close(f);
	close(empty);
	close(big);
	tn_filecache_free(fc);
}

/* A file changed after it was read in: its entry is dropped at the next
 * look, while a reference taken before keeps the old bytes readable. */
static void test_changed_file_dropped(void **state)
{
	struct tn_filecache *fc = tn_filecache_new(1u << 20);
	const struct tn_filecache_stats *st = tn_filecache_stats(fc);
	struct stat sb;
	int f = make_file(1000, 3);
	assert_int_equal(fstat(f, &sb), 0);
	struct tn_fcentry *old = tn_filecache_fill(fc, f, &sb, later());
	assert_non_null(old);
	/* past the file system's clock tick, so the ctime differs */
	nanosleep(&(struct timespec){.tv_nsec = 30 * 1000 * 1000}, NULL);
	assert_int_equal(pwrite(f, "x", 1, 0), 1);
	assert_int_equal(fstat(f, &sb), 0);
	assert_null(tn_filecache_get(fc, &sb));
	assert_int_equal(st->stale, 1);
	assert_int_equal(st->entries, 0);
	assert_int_equal(st->bytes, 0);
	assert_bytes(old, 1000, 3); /* still lent: still there */
	struct tn_fcentry *e = tn_filecache_fill(fc, f, &sb, later());
	assert_non_null(e);
	assert_int_equal(e->data[0], 'x');
	tn_fcentry_put(old);
	tn_filecache_free(fc);
	/* outlives the cache while referenced */
	assert_int_equal(e->size, 1000);
	assert_int_equal(e->data[0], 'x');
	assert_int_equal(e->data[999], (999 + 3) % 251);
	tn_fcentry_put(e); /* the last: freed (ASan's leak check) */
	close(f);
}

/* A file whose pages are not in memory is not read in (the core would
 * wait on the disk for all of it); once read through, it is.  Needs a
 * file system whose clean pages POSIX_FADV_DONTNEED drops (ext4 does,
 * tmpfs does not: then the first half cannot be shown). */
static void test_cold_file_not_read_in(void **state)
{
	char path[] = "/var/tmp/filecache-cold-XXXXXX";
	int f = mkstemp(path);
	assert_true(f >= 0);
	unlink(path);
	static uint8_t b[400000];
	for (uint32_t i = 0; i < sizeof(b); i++)
		b[i] = (uint8_t)((i + 9) % 251);
	assert_int_equal(pwrite(f, b, sizeof(b), 0), (ssize_t)sizeof(b));
	assert_int_equal(fsync(f), 0);
	assert_int_equal(posix_fadvise(f, 0, 0, POSIX_FADV_DONTNEED), 0);
	struct tn_filecache *fc = tn_filecache_new(8u << 20);
	const struct tn_filecache_stats *st = tn_filecache_stats(fc);
	struct stat sb;
	assert_int_equal(fstat(f, &sb), 0);
	/* is its first page gone?  (RWF_NOWAIT never reads the disk) */
	uint8_t probe;
	struct iovec iov = {&probe, 1};
	bool evicted = preadv2(f, &iov, 1, 0, RWF_NOWAIT) < 0 && errno == EAGAIN;
	struct tn_fcentry *e = tn_filecache_fill(fc, f, &sb, later());
	if (evicted) {
		assert_null(e);
		assert_int_equal(st->cold, 1);
		assert_int_equal(st->entries, 0);
	} else {
		print_message("the page cache kept the file (no eviction on this file system): cold path not shown\n");
		if (e)
			tn_fcentry_put(e);
	}
	assert_int_equal(pread(f, b, sizeof(b), 0), (ssize_t)sizeof(b)); /* what the sendfile path does */
	e = tn_filecache_fill(fc, f, &sb, later());
	assert_non_null(e);
	assert_bytes(e, sizeof(b), 9);
	tn_fcentry_put(e);
	tn_filecache_free(fc);
	close(f);
}

/* Least recently used out first: a file looked up stays, the one not
 * looked up goes. */
static void test_least_recently_used_goes(void **state)
{
	struct tn_filecache *fc = tn_filecache_new(8000);
	const struct tn_filecache_stats *st = tn_filecache_stats(fc);
	int f[9];
	struct stat sb[9];
	for (int i = 0; i < 9; i++) {
		f[i] = make_file(1000, (uint32_t)i);
		assert_int_equal(fstat(f[i], &sb[i]), 0);
		if (i == 8) /* before the ninth goes in: 0 used again */
			tn_fcentry_put(tn_filecache_get(fc, &sb[0]));
		struct tn_fcentry *e = tn_filecache_fill(fc, f[i], &sb[i], later());
		assert_non_null(e);
		tn_fcentry_put(e);
	}
	assert_int_equal(st->evicted, 1);
	assert_int_equal(st->entries, 8);
	struct tn_fcentry *e0 = tn_filecache_get(fc, &sb[0]);
	assert_non_null(e0);
	tn_fcentry_put(e0);
	assert_null(tn_filecache_get(fc, &sb[1]));
	for (int i = 0; i < 9; i++)
		close(f[i]);
	tn_filecache_free(fc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many_files_found_again),
		cmocka_unit_test(test_files_not_read_in),
		cmocka_unit_test(test_changed_file_dropped),
		cmocka_unit_test(test_least_recently_used_goes),
		cmocka_unit_test(test_cold_file_not_read_in),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
