/* SPDX-License-Identifier: GPL-2.0 */
/*
 * probe_common.h: the helpers the studies' probes share (templates/mapcount/probe/probe.c,
 * templates/lazyfree/probe/probe.c, and a new study's probe.c the same way).
 *
 * A probe includes it first, right after `#define _GNU_SOURCE`, with
 *
 *	#define PROBE_VMSTAT "pswpout", "thp_split_page"	(the /proc/vmstat counters it reads)
 *	#include "../../probe-common/probe_common.h"
 *
 * gcc looks for a quoted include beside the file that includes it first, so the probe still
 * builds on its own: gcc -O2 -Wall -o probe -isystem <kernel build>/usr/include probe.c.
 *
 * Everything here is static: the globals every probe has (page and PMD size, the pagemap and
 * kpageflags fds, the TAP counters); sysfs text files and knobs put back at exit; the THP sizes
 * and their knobs; pagemap and kpageflags; aligned mappings and THP checks; the /proc/vmstat
 * and per-size THP stats counters and the text of what moved; the TAP lines of a case; and the
 * start of main() (signals, swap, CPU pinning), forking a child that talks over two pipes. What
 * a study checks (its scenarios, verdicts, costs) stays in its probe. A helper not every probe
 * uses is `static inline`, so that the others build without an unused-function warning.
 */
#ifndef PROBE_COMMON_H
#define PROBE_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef PROBE_VMSTAT
/* the /proc/vmstat counters the probe reads */
#error "define PROBE_VMSTAT before including probe_common.h"
#endif

#ifndef MADV_HUGEPAGE
#define MADV_HUGEPAGE 14
#endif
#ifndef MADV_NOHUGEPAGE
#define MADV_NOHUGEPAGE 15
#endif

/* kselftest's exit codes (tools/testing/selftests/kselftest.h) */
#ifndef KSFT_PASS
#define KSFT_PASS	0
#define KSFT_FAIL	1
#define KSFT_XFAIL	2
#define KSFT_XPASS	3
#define KSFT_SKIP	4
#endif

/* /proc/PID/pagemap */
#define PM_PFN_MASK	((1ULL << 55) - 1)
#define PM_SOFT_DIRTY	(1ULL << 55)
#define PM_SWAP		(1ULL << 62)
#define PM_PRESENT	(1ULL << 63)

/* /proc/kpageflags bits (include/uapi/linux/kernel-page-flags.h) */
#define F_REFERENCED	(1ULL << 2)
#define F_DIRTY		(1ULL << 4)
#define F_LRU		(1ULL << 5)
#define F_ACTIVE	(1ULL << 6)
#define F_ANON		(1ULL << 12)
#define F_SWAPCACHE	(1ULL << 13)
#define F_SWAPBACKED	(1ULL << 14)
#define F_HEAD		(1ULL << 15)
#define F_TAIL		(1ULL << 16)
#define F_NOPAGE	(1ULL << 20)
#define F_THP		(1ULL << 22)

#define THP_DIR		"/sys/kernel/mm/transparent_hugepage"

static size_t pagesize, pmdsize;
static int pagemap_fd = -1, kpageflags_fd = -1;
static pid_t main_pid;
static int test_nr, n_pass, n_fail, n_skip, n_error;
static struct timespec t_start;

static double elapsed_ms(const struct timespec *a, const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) * 1e3 + (b->tv_nsec - a->tv_nsec) / 1e6;
}

/* ---------------------------------------------------------------- files and knobs */

static int read_text(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return 0;
}

/* async-signal-safe: open/write/close only */
static int write_text(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, val, strlen(val));
	close(fd);
	return n == (ssize_t)strlen(val) ? 0 : -1;
}

static long read_long(const char *path)
{
	char buf[64];

	if (read_text(path, buf, sizeof(buf)))
		return -1;
	return strtol(buf, NULL, 10);
}

/* sysfs knobs this probe changed, restored at exit, on a signal and on failure */
struct knob {
	char path[160];
	char orig[32];
};
static struct knob knobs[48];
static int nknobs;

/* "always inherit madvise [never]" -> "never"; "20" -> "20" */
static void current_value(const char *text, char *out, size_t len)
{
	const char *l = strchr(text, '['), *r = l ? strchr(l, ']') : NULL;
	size_t n;

	if (l && r) {
		text = l + 1;
		n = r - l - 1;
	} else {
		n = strlen(text);
	}
	if (n >= len)
		n = len - 1;
	memcpy(out, text, n);
	out[n] = '\0';
}

/* Set a knob, remembering its first value; 0 on success. */
static int knob_set(const char *path, const char *val)
{
	char text[160], cur[32];
	int i;

	if (read_text(path, text, sizeof(text)))
		return -1;
	current_value(text, cur, sizeof(cur));
	if (!strcmp(cur, val))
		return 0;
	for (i = 0; i < nknobs; i++)
		if (!strcmp(knobs[i].path, path))
			break;
	if (i == nknobs) {
		if (nknobs == (int)(sizeof(knobs) / sizeof(knobs[0])))
			return -1;
		snprintf(knobs[i].path, sizeof(knobs[i].path), "%s", path);
		snprintf(knobs[i].orig, sizeof(knobs[i].orig), "%s", cur);
		nknobs++;
	}
	return write_text(path, val);
}

/* async-signal-safe: open/write/close only; the main process only (not a forked child) */
static void knobs_restore(void)
{
	int i;

	if (getpid() != main_pid)
		return;
	for (i = nknobs - 1; i >= 0; i--)
		write_text(knobs[i].path, knobs[i].orig);
	nknobs = 0;
}

/* ---------------------------------------------------------------- THP sizes */

static size_t thp_kb[24];	/* mTHP sizes (kB) with their own enabled knob, PMD size included */
static int nthp;
static bool have_thp;

static void detect_thp(void)
{
	DIR *d;
	struct dirent *e;
	long v;

	if (access(THP_DIR "/enabled", F_OK))
		return;
	have_thp = true;
	v = read_long(THP_DIR "/hpage_pmd_size");
	pmdsize = v > 0 ? (size_t)v : 2UL << 20;
	d = opendir(THP_DIR);
	if (!d)
		return;
	while ((e = readdir(d)) && nthp < (int)(sizeof(thp_kb) / sizeof(thp_kb[0]))) {
		unsigned long kb;
		char path[300];

		if (sscanf(e->d_name, "hugepages-%lukB", &kb) != 1)
			continue;
		snprintf(path, sizeof(path), THP_DIR "/%s/enabled", e->d_name);
		if (access(path, W_OK))
			continue;
		thp_kb[nthp++] = kb;
	}
	closedir(d);
	/* ascending */
	for (int i = 0; i < nthp; i++)
		for (int j = i + 1; j < nthp; j++)
			if (thp_kb[j] < thp_kb[i]) {
				size_t t = thp_kb[i];

				thp_kb[i] = thp_kb[j];
				thp_kb[j] = t;
			}
}

/*
 * The THP sizes a probe runs its cases for: the PMD size first, then every other mTHP size,
 * ascending; sizes has room for 25. Their number.
 */
static inline int thp_sizes(size_t *sizes)
{
	int i, nsizes = 0;

	sizes[nsizes++] = pmdsize;
	for (i = 0; i < nthp; i++)
		if (thp_kb[i] * 1024 != pmdsize && thp_kb[i] * 1024 > pagesize)
			sizes[nsizes++] = thp_kb[i] * 1024;
	return nsizes;
}

/*
 * Let the kernel allocate anonymous THPs of this size only (0: of no size, MADV_COLLAPSE makes
 * THPs without them); 0 on success.
 */
static int thp_select(size_t size)
{
	char path[200];
	int i, err = 0;

	if (!have_thp)
		return size ? -1 : 0;
	if (knob_set(THP_DIR "/enabled", size ? "always" : "never"))
		err = -1;
	for (i = 0; i < nthp; i++) {
		snprintf(path, sizeof(path), THP_DIR "/hugepages-%zukB/enabled", thp_kb[i]);
		if (knob_set(path, thp_kb[i] * 1024 == size ? "always" : "never"))
			err = -1;
	}
	return err;
}

/* ---------------------------------------------------------------- memory introspection */

/* pagemap entries of another process (pid 0: this one); 0 on success */
static int pagemap_of(pid_t pid, const void *addr, size_t npages, uint64_t *out)
{
	off_t off = (off_t)((uintptr_t)addr / pagesize * sizeof(uint64_t));
	size_t len = npages * sizeof(uint64_t);
	char path[64];
	int fd, ret;

	if (!pid)
		return pread(pagemap_fd, out, len, off) == (ssize_t)len ? 0 : -1;
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	ret = pread(fd, out, len, off) == (ssize_t)len ? 0 : -1;
	close(fd);
	return ret;
}

/* this process's pagemap entries; 0 on success */
static inline int pagemap_read(const void *addr, size_t npages, uint64_t *out)
{
	return pagemap_of(0, addr, npages, out);
}

static uint64_t kpf(uint64_t pfn)
{
	uint64_t f;

	if (pread(kpageflags_fd, &f, sizeof(f), (off_t)(pfn * sizeof(f))) != sizeof(f))
		return F_NOPAGE;
	return f;
}

/* Is [pfn0, pfn0 + n) one folio of n pages (n 1: a small page)? */
static bool folio_whole(uint64_t pfn0, size_t n)
{
	size_t i;

	if (n == 1)
		return !(kpf(pfn0) & (F_HEAD | F_TAIL | F_NOPAGE));
	if (!(kpf(pfn0) & F_HEAD))
		return false;
	for (i = 1; i < n; i++)
		if (!(kpf(pfn0 + i) & F_TAIL))
			return false;
	return !(kpf(pfn0 + n) & F_TAIL);
}

/*
 * Is [mem, mem + size) one THP of exactly that size? 0: yes (its first PFN in *pfn); 1: no (why
 * in msg).
 */
static int check_thp(const char *mem, size_t size, uint64_t *pfn, char *msg, size_t len)
{
	size_t n = size / pagesize, i;
	uint64_t *pm = calloc(n, sizeof(uint64_t)), pfn0, f;
	int ret = 1;

	if (!pm) {
		snprintf(msg, len, "out of memory");
		return 1;
	}
	if (pagemap_of(0, mem, n, pm)) {
		snprintf(msg, len, "cannot read /proc/self/pagemap");
		goto out;
	}
	pfn0 = pm[0] & PM_PFN_MASK;
	for (i = 0; i < n; i++) {
		if (!(pm[i] & PM_PRESENT) || (pm[i] & PM_PFN_MASK) != pfn0 + i) {
			snprintf(msg, len, "page %zu is not present or not contiguous", i);
			goto out;
		}
	}
	if (pfn0 & (n - 1)) {
		snprintf(msg, len, "first PFN not aligned to the THP size");
		goto out;
	}
	f = kpf(pfn0);
	if (!(f & F_HEAD) || !(f & F_THP)) {
		snprintf(msg, len, "first page is not the head of a THP (kpageflags %#llx)",
			 (unsigned long long)f);
		goto out;
	}
	for (i = 1; i < n; i++) {
		if (!(kpf(pfn0 + i) & F_TAIL)) {
			snprintf(msg, len, "got a smaller folio (page %zu is not a tail page)", i);
			goto out;
		}
	}
	if (kpf(pfn0 + n) & F_TAIL) {
		snprintf(msg, len, "got a larger folio");
		goto out;
	}
	*pfn = pfn0;
	ret = 0;
out:
	free(pm);
	return ret;
}

/* size-aligned anonymous mapping of exactly `size` bytes */
static char *map_aligned(size_t size, size_t align)
{
	size_t len = size + align;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *a;

	if (p == MAP_FAILED)
		return NULL;
	a = (char *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
	if (a > p)
		munmap(p, a - p);
	if (p + len > a + size)
		munmap(a + size, p + len - (a + size));
	return a;
}

/* Split the PMD mapping of each PMD-sized THP in [mem, mem + len) by a partial mprotect (as cow) */
static int pte_map(char *mem, size_t len)
{
	size_t off;

	for (off = 0; off < len; off += pmdsize) {
		if (mprotect(mem + off + pagesize, pagesize, PROT_READ))
			return -1;
		if (mprotect(mem + off + pagesize, pagesize, PROT_READ | PROT_WRITE))
			return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- counters */

/*
 * Counters that tell what the kernel did: the /proc/vmstat ones the probe names (PROBE_VMSTAT)
 * and, where the kernel has them (v6.10+), the per-size THP stats. -1: this kernel does not have
 * it.
 */
static const char *const vm_names[] = { PROBE_VMSTAT };
#define NR_VM (int)(sizeof(vm_names) / sizeof(vm_names[0]))
static const char *const mthp_names[] = { "split", "split_failed", "swpout", "swpout_fallback" };
#define NR_MTHP (int)(sizeof(mthp_names) / sizeof(mthp_names[0]))

struct counters {
	long vm[NR_VM];
	long mthp[NR_MTHP];
};

/* the counters now; the per-size ones of the THP size `size` (none for a small page) */
static void counters_read(struct counters *c, size_t size)
{
	FILE *f = fopen("/proc/vmstat", "r");
	char name[64], path[200];
	long v;
	int i;

	for (i = 0; i < NR_VM; i++)
		c->vm[i] = -1;
	while (f && fscanf(f, "%63s %ld", name, &v) == 2)
		for (i = 0; i < NR_VM; i++)
			if (!strcmp(name, vm_names[i]))
				c->vm[i] = v;
	if (f)
		fclose(f);
	for (i = 0; i < NR_MTHP; i++) {
		snprintf(path, sizeof(path), THP_DIR "/hugepages-%zukB/stats/%s", size / 1024,
			 mthp_names[i]);
		c->mthp[i] = size > pagesize ? read_long(path) : -1;
	}
}

/* "thp_split_page +1, pswpout +256, 2048kB split +1" (what moved), or "no counter moved" */
static void counters_delta(const struct counters *a, const struct counters *b, size_t size,
			   char *buf, size_t len)
{
	size_t used = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < NR_VM && used < len; i++)
		if (a->vm[i] >= 0 && b->vm[i] != a->vm[i])
			used += snprintf(buf + used, len - used, "%s%s %+ld", used ? ", " : "",
					 vm_names[i], b->vm[i] - a->vm[i]);
	for (i = 0; i < NR_MTHP && used < len; i++)
		if (a->mthp[i] >= 0 && b->mthp[i] != a->mthp[i])
			used += snprintf(buf + used, len - used, "%s%zukB %s %+ld",
					 used ? ", " : "", size / 1024, mthp_names[i],
					 b->mthp[i] - a->mthp[i]);
	if (!used)
		snprintf(buf, len, "no counter moved");
}

/* ---------------------------------------------------------------- children */

/*
 * Two pipes and a fork(): -1 on failure (why in msg, both pipes closed), else what fork()
 * returned: 0 in the child (which gets SIGKILL when the parent dies), its pid in the parent.
 * Both have every end of both pipes; each closes the ends it does not use.
 */
static pid_t fork_piped(int a[2], int b[2], char *msg, size_t len)
{
	pid_t pid;

	if (pipe(a)) {
		snprintf(msg, len, "pipe: %s", strerror(errno));
		return -1;
	}
	if (pipe(b)) {
		snprintf(msg, len, "pipe: %s", strerror(errno));
		close(a[0]);
		close(a[1]);
		return -1;
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		snprintf(msg, len, "fork: %s", strerror(errno));
		close(a[0]);
		close(a[1]);
		close(b[0]);
		close(b[1]);
		return -1;
	}
	if (pid == 0)
		prctl(PR_SET_PDEATHSIG, SIGKILL);
	return pid;
}

/*
 * End a child fork_piped() made: `bye` on the pipe the parent writes (to_kid), the parent's ends
 * closed, SIGKILL, reaped.
 */
static void reap_piped(pid_t pid, int to_kid, int from_kid, char bye)
{
	if (write(to_kid, &bye, 1) != 1) {
		/* the child is killed below anyway */
	}
	close(to_kid);
	close(from_kid);
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* ---------------------------------------------------------------- arithmetic */

/*
 * How many fewer there are after than before; 0 when there are more (a count of pages whose flag
 * a call cleared, where the flag may also be set again meanwhile: never an unsigned underflow).
 */
static inline size_t fewer(size_t before, size_t after)
{
	return before > after ? before - after : 0;
}

/* b - a of a counter read twice, 0 when either read failed (-1: the kernel has no such counter) */
static inline long moved_by(long a, long b)
{
	return a < 0 || b < 0 ? 0 : b - a;
}

/* ---------------------------------------------------------------- verdicts and TAP */

/*
 * What a case found. A result line that is not a plain `ok` carries its verdict as a token: the
 * first word of its reason, in square brackets, where a kselftest TAP reader sees the comment of a
 * `not ok` line or the reason of a SKIP. The study's probe/words.toml maps the tokens to the words
 * a report shows; the English after the token is for the reader and may change freely.
 *
 *	ok 3 NAME						correct
 *	not ok 4 NAME # [missed] treated exclusive as ...: detail	missed, split, wrong, loss
 *	ok 5 # SKIP [inconclusive] NAME: why				inconclusive, caller-only
 *	ok 6 # SKIP NAME: why					skipped, no verdict
 *	not ok 7 NAME # error: why				a syscall failed, no verdict
 */
enum verdict {
	V_PASS,		/* the kernel did what it should */
	V_MISSED,	/* an exclusive folio left alone */
	V_SPLIT,	/* a shared folio split, only the caller's pages acted on */
	V_WRONG,	/* pages another process maps acted on */
	V_LOSS,		/* another process (or the caller's pages it did not advise) lost data */
	V_INCONCLUSIVE,	/* the state was not what the scenario needs: no verdict */
	V_CALLER,	/* only the caller's side observable: no verdict on the other process's */
	V_SKIP,
	V_ERROR,
	NR_VERDICTS
};

static const char *const verdict_token[NR_VERDICTS] = {
	[V_PASS] = "correct",
	[V_MISSED] = "missed",
	[V_SPLIT] = "split",
	[V_WRONG] = "wrong",
	[V_LOSS] = "loss",
	[V_INCONCLUSIVE] = "inconclusive",
	[V_CALLER] = "caller-only",
	[V_SKIP] = "",
	[V_ERROR] = "",
};

struct outcome {
	enum verdict v;
	char msg[400];
};

__attribute__((format(printf, 3, 4)))
static void set_outcome(struct outcome *o, enum verdict v, const char *fmt, ...)
{
	va_list ap;

	o->v = v;
	va_start(ap, fmt);
	vsnprintf(o->msg, sizeof(o->msg), fmt, ap);
	va_end(ap);
}

extern char **environ;

/*
 * A case's boundary for the coverage config: with a gcov kernel the guest script names a program
 * in $WORKBENCH_COUNTERS that copies the kernel's gcov counters to the folder it is given; the
 * probe gives it <$WORKBENCH_COUNTERS_OUT>/<case number>.<begin|end>, so each case's counts are the
 * difference of its two copies. posix_spawn() does not copy the probe's page tables (vfork), so
 * no page of a case becomes shared by it. Without the variables (no gcov) it does nothing.
 */
static void counters_mark(int nr, const char *when)
{
	const char *prog = getenv("WORKBENCH_COUNTERS"), *out = getenv("WORKBENCH_COUNTERS_OUT");
	char dest[512];
	char *argv[3];
	pid_t pid;
	int status;

	if (!prog || !out)
		return;
	snprintf(dest, sizeof(dest), "%s/%d.%s", out, nr, when);
	argv[0] = (char *)prog;
	argv[1] = dest;
	argv[2] = NULL;
	fflush(stdout);
	if (posix_spawn(&pid, prog, NULL, NULL, argv, environ) == 0)
		waitpid(pid, &status, 0);
}

/* "# [RUN] name", before a case */
static void tap_run(const char *name)
{
	printf("# [RUN] %s\n", name);
	fflush(stdout);
	counters_mark(test_nr + 1, "begin");
}

/*
 * The result line of the case `name` just run, numbered on from the last; `what` says in English
 * what each verdict means in this probe (NULL: the token alone), the outcome's message the detail.
 */
static void end_case(const char *name, const struct outcome *o, const char *const what[NR_VERDICTS])
{
	const char *tok = verdict_token[o->v], *text = what[o->v] ? what[o->v] : "";
	const char *sep = text[0] && o->msg[0] ? ": " : "";

	test_nr++;
	counters_mark(test_nr, "end");
	switch (o->v) {
	case V_PASS:
		n_pass++;
		printf("ok %d %s\n", test_nr, name);
		break;
	case V_SKIP:
		n_skip++;
		printf("ok %d # SKIP %s: %s\n", test_nr, name, o->msg);
		break;
	case V_ERROR:
		n_error++;
		printf("not ok %d %s # error: %s\n", test_nr, name, o->msg);
		break;
	case V_INCONCLUSIVE:
	case V_CALLER:
		n_skip++;
		printf("ok %d # SKIP [%s] %s: %s%s%s\n", test_nr, tok, name, text, sep, o->msg);
		break;
	default:
		n_fail++;
		printf("not ok %d %s # [%s] %s%s%s\n", test_nr, name, tok, text, sep, o->msg);
		break;
	}
	fflush(stdout);
}

/* The totals line; the exit code: KSFT_FAIL a case failed, KSFT_SKIP all nplan skipped */
static int tap_totals(int nplan)
{
	printf("# Totals: pass:%d fail:%d xfail:0 xpass:0 skip:%d error:%d\n", n_pass, n_fail,
	       n_skip, n_error);
	fflush(stdout);
	if (n_fail || n_error)
		return KSFT_FAIL;
	if (n_skip == nplan)
		return KSFT_SKIP;
	return KSFT_PASS;
}

/* `1..0 # SKIP why`: the whole probe skipped; its exit code */
__attribute__((format(printf, 1, 2)))
static int tap_skip_all(const char *fmt, ...)
{
	va_list ap;

	printf("1..0 # SKIP ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	return KSFT_SKIP;
}

/* ---------------------------------------------------------------- main */

/* The first thing main() does: the globals set, stdout line-buffered, the TAP header */
static void probe_start(void)
{
	main_pid = getpid();
	pagesize = sysconf(_SC_PAGESIZE);
	clock_gettime(CLOCK_MONOTONIC, &t_start);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("TAP version 13\n");
}

/* SwapTotal (kB) from /proc/meminfo, -1 if it is not there */
static inline long swap_total_kb(void)
{
	long swap_kb = -1;
	char line[256];
	FILE *f = fopen("/proc/meminfo", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "SwapTotal: %ld", &swap_kb) == 1)
			break;
	if (f)
		fclose(f);
	return swap_kb;
}

/* what puts back everything the probe changed (knobs_restore at least); async-signal-safe */
static void (*probe_cleanup)(void) = knobs_restore;

static void cleanup_at_exit(void)
{
	probe_cleanup();
}

static void on_signal(int sig)
{
	probe_cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* `cleanup` run at exit and on the signals that end a probe; SIGPIPE ignored */
static void catch_signals(void (*cleanup)(void))
{
	probe_cleanup = cleanup;
	atexit(cleanup_at_exit);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGSEGV, on_signal);
	signal(SIGBUS, on_signal);
	signal(SIGABRT, on_signal);
	signal(SIGPIPE, SIG_IGN);
}

/*
 * One CPU for the probe and its children: madvise() drains only the local CPU's LRU batches
 * (lru_add_drain()), so pages faulted on another CPU could still sit in that one's.
 */
static inline void pin_cpu(void)
{
	int cpu = sched_getcpu();
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu < 0 ? 0 : cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		printf("# cannot pin the probe to CPU %d: %s\n", cpu, strerror(errno));
	else
		printf("# pinned to CPU %d (its children too)\n", cpu < 0 ? 0 : cpu);
}

#endif /* PROBE_COMMON_H */
