// SPDX-License-Identifier: GPL-2.0
/*
 * probe: what MADV_PAGEOUT and MADV_COLD do to exclusive and to shared folios.
 *
 * madvise_cold_or_pageout_pte_range() must leave alone a folio that another
 * process maps, and must deactivate / page out one that only this process
 * maps. The kernel selftest `cow` only notices the first kind of mistake
 * (exclusive treated as shared); this probe measures both, for the PMD THP
 * size, every mTHP size the kernel offers, small pages and KSM pages, and it
 * times MADV_COLD and MADV_PAGEOUT over a large region of PTE-mapped THPs:
 * the whole call over an exclusive region, and the decision alone over a
 * region shared with a child (which every variant leaves alone).
 *
 * Every scenario: set the memory up (fork()ed children keep their part mapped
 * and touch nothing), call madvise() from the parent only, then read from the
 * parent's /proc/self/pagemap (bit 62 swapped, bit 63 present) which pages
 * left memory, or from /proc/kpageflags (via the PFN) whether MADV_COLD
 * cleared PG_referenced. Expected: an exclusive folio is paged out or
 * deactivated; a folio another process maps is left alone.
 *
 * Self-contained (no kselftest.h), prints kselftest-style TAP 13, must be
 * run as root with swap enabled. Environment: PROBE_COST_MB (default 1024;
 * 0 turns the cost measurement off).
 *
 * Build: gcc -O2 -Wall -o probe -isystem <kernel build>/usr/include probe.c
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
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

#ifndef MADV_MERGEABLE
#define MADV_MERGEABLE 12
#endif
#ifndef MADV_HUGEPAGE
#define MADV_HUGEPAGE 14
#endif
#ifndef MADV_NOHUGEPAGE
#define MADV_NOHUGEPAGE 15
#endif
#ifndef MADV_COLD
#define MADV_COLD 20
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

/* /proc/self/pagemap */
#define PM_PFN_MASK	((1ULL << 55) - 1)
#define PM_SWAP		(1ULL << 62)
#define PM_PRESENT	(1ULL << 63)

/* /proc/kpageflags bits (include/uapi/linux/kernel-page-flags.h) */
#define F_REFERENCED	(1ULL << 2)
#define F_LRU		(1ULL << 5)
#define F_ACTIVE	(1ULL << 6)
#define F_HEAD		(1ULL << 15)
#define F_TAIL		(1ULL << 16)
#define F_NOPAGE	(1ULL << 20)
#define F_THP		(1ULL << 22)
#define F_FOLIO_BITS	(F_REFERENCED | F_LRU | F_ACTIVE)

#define THP_DIR		"/sys/kernel/mm/transparent_hugepage"
#define KSM_DIR		"/sys/kernel/mm/ksm"
#define DEFAULT_COST_MB	1024
#define KSM_WAIT_MS	20000

static size_t pagesize, pmdsize;
static int pagemap_fd = -1, kpageflags_fd = -1, mem_fd = -1;
static pid_t main_pid;
static int test_nr, n_pass, n_fail, n_skip, n_error;
static struct timespec t_start;

/* ---------------------------------------------------------------- knobs */

/* sysfs knobs this probe changed, restored at exit, on a signal and on failure */
struct knob {
	char path[160];
	char orig[32];
};
static struct knob knobs[48];
static int nknobs;

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

/* async-signal-safe: open/write/close only */
static void knobs_restore(void)
{
	int i;

	if (getpid() != main_pid)
		return;
	for (i = nknobs - 1; i >= 0; i--)
		write_text(knobs[i].path, knobs[i].orig);
	nknobs = 0;
}

static void on_signal(int sig)
{
	knobs_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* ---------------------------------------------------------------- TAP */

enum verdict { V_PASS, V_MISSED, V_WRONG, V_SKIP, V_ERROR };

struct outcome {
	enum verdict v;
	char msg[200];
};

static void set_outcome(struct outcome *o, enum verdict v, const char *fmt, ...)
{
	va_list ap;

	o->v = v;
	va_start(ap, fmt);
	vsnprintf(o->msg, sizeof(o->msg), fmt, ap);
	va_end(ap);
}

static void begin_case(const char *name)
{
	printf("# [RUN] %s\n", name);
	fflush(stdout);
}

static void end_case(const char *name, bool cold, const struct outcome *o)
{
	const char *act = cold ? "deactivation" : "pageout";

	test_nr++;
	switch (o->v) {
	case V_PASS:
		n_pass++;
		printf("ok %d %s\n", test_nr, name);
		break;
	case V_MISSED:
		n_fail++;
		printf("not ok %d %s # treated exclusive as shared (missed %s)%s%s\n", test_nr, name, act,
		       o->msg[0] ? ": " : "", o->msg);
		break;
	case V_WRONG:
		n_fail++;
		printf("not ok %d %s # treated shared as exclusive (%s)%s%s\n", test_nr, name,
		       cold ? "deactivated a shared folio" : "paged out a shared folio",
		       o->msg[0] ? ": " : "", o->msg);
		break;
	case V_SKIP:
		n_skip++;
		printf("ok %d # SKIP %s: %s\n", test_nr, name, o->msg);
		break;
	case V_ERROR:
		n_error++;
		printf("not ok %d %s # error: %s\n", test_nr, name, o->msg);
		break;
	}
	fflush(stdout);
}

static double elapsed_ms(const struct timespec *a, const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) * 1e3 + (b->tv_nsec - a->tv_nsec) / 1e6;
}

/* ---------------------------------------------------------------- memory introspection */

static int pagemap_read(const void *addr, size_t npages, uint64_t *out)
{
	off_t off = (off_t)((uintptr_t)addr / pagesize * sizeof(uint64_t));
	size_t len = npages * sizeof(uint64_t);

	return pread(pagemap_fd, out, len, off) == (ssize_t)len ? 0 : -1;
}

static uint64_t kpf(uint64_t pfn)
{
	uint64_t f;

	if (pread(kpageflags_fd, &f, sizeof(f), (off_t)(pfn * sizeof(f))) != sizeof(f))
		return F_NOPAGE;
	return f;
}

/*
 * The flags of a page with the LRU bits of its folio: at v6.1 kpageflags
 * shows a tail page's own flags, where PG_referenced/PG_active are not kept;
 * a folio is naturally aligned, so its head is the first aligned HEAD below.
 */
static uint64_t folio_flags(uint64_t pfn)
{
	uint64_t f = kpf(pfn), hf;
	int order;

	if (!(f & F_TAIL))
		return f;
	for (order = 1; order <= 18; order++) {
		hf = kpf(pfn & ~((1ULL << order) - 1));
		if (hf & F_HEAD)
			return (f & ~F_FOLIO_BITS) | (hf & F_FOLIO_BITS);
	}
	return f;
}

/* AnonHugePages (kB) of the VMA containing addr, -1 if not found */
static long smaps_anon_huge_kb(const void *addr)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	unsigned long start, end, a = (unsigned long)addr;
	bool in = false;
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		/* a VMA's header line: "start-end perms offset dev inode path"; no field line parses so */
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2) {
			in = start <= a && a < end;
			continue;
		}
		if (in && !strncmp(line, "AnonHugePages:", 14)) {
			kb = strtol(line + 14, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kb;
}

/*
 * Is [mem, mem + size) one THP of exactly that size? 0: yes; 1: no (why in msg).
 */
static int check_thp(const char *mem, size_t size, char *msg, size_t len)
{
	size_t n = size / pagesize, i;
	uint64_t *pm = calloc(n, sizeof(uint64_t)), pfn0, f;
	int ret = 1;

	if (!pm) {
		snprintf(msg, len, "out of memory");
		return 1;
	}
	if (pagemap_read(mem, n, pm)) {
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
	ret = 0;
out:
	free(pm);
	return ret;
}

/* a small page (not part of a large folio)? */
static int check_small(const char *mem, char *msg, size_t len)
{
	uint64_t pm, f;

	if (pagemap_read(mem, 1, &pm) || !(pm & PM_PRESENT)) {
		snprintf(msg, len, "page not present");
		return 1;
	}
	f = kpf(pm & PM_PFN_MASK);
	if (f & (F_HEAD | F_TAIL)) {
		snprintf(msg, len, "got a large folio instead of a small page");
		return 1;
	}
	return 0;
}

/* Mark the pages accessed through /proc/self/mem (GUP with FOLL_TOUCH calls mark_page_accessed) */
static int touch_range(const char *addr, size_t len, int passes)
{
	size_t off;
	char c;
	int p;

	for (p = 0; p < passes; p++)
		for (off = 0; off < len; off += pagesize)
			if (pread(mem_fd, &c, 1, (off_t)(uintptr_t)(addr + off)) != 1)
				return -1;
	return 0;
}

/* pages present / swapped / still PG_referenced / PG_active in a range of this process */
struct state {
	size_t present, swapped, referenced, active;
};

static int range_state(const char *addr, size_t npages, bool flags, struct state *st)
{
	uint64_t *pm = calloc(npages, sizeof(uint64_t)), f;
	size_t i;

	memset(st, 0, sizeof(*st));
	if (!pm || pagemap_read(addr, npages, pm)) {
		free(pm);
		return -1;
	}
	for (i = 0; i < npages; i++) {
		if (pm[i] & PM_SWAP)
			st->swapped++;
		if (!(pm[i] & PM_PRESENT))
			continue;
		st->present++;
		if (!flags)
			continue;
		f = folio_flags(pm[i] & PM_PFN_MASK);
		if (f & F_REFERENCED)
			st->referenced++;
		if (f & F_ACTIVE)
			st->active++;
	}
	free(pm);
	return 0;
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

/* Split the PMD mapping of each THP in [mem, mem + len) by a partial mprotect, as cow does */
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

/* Let the kernel allocate anonymous THPs of this size only; 0 on success. */
static int thp_select(size_t size)
{
	char path[200];
	int i, err = 0;

	if (knob_set(THP_DIR "/enabled", "always"))
		err = -1;
	for (i = 0; i < nthp; i++) {
		snprintf(path, sizeof(path), THP_DIR "/hugepages-%zukB/enabled", thp_kb[i]);
		if (knob_set(path, thp_kb[i] * 1024 == size ? "always" : "never"))
			err = -1;
	}
	return err;
}

/* ---------------------------------------------------------------- scenarios */

enum half { NONE, FIRST, SECOND };

struct scenario {
	const char *text;
	bool pmd_only;		/* PMD size only */
	bool pmd_mapped;	/* the parent maps the THP by a PMD (else its PMD is split first) */
	bool fork;		/* a child shares the memory */
	enum half child_unmap;	/* what the child unmaps before the parent acts */
	enum half parent_unmap;	/* what the parent unmaps before it acts */
	enum half range;	/* what the parent advises (NONE: all of it) */
	bool shared;		/* expected: another process maps the folio -> left alone */
	bool cold;		/* also run with MADV_COLD */
};

static const struct scenario thp_scenarios[] = {
	{ "exclusive PMD-mapped THP", true, true, false, NONE, NONE, NONE, false, true },
	{ "exclusive PTE-mapped THP", false, false, false, NONE, NONE, NONE, false, true },
	{ "PTE-mapped THP, first half unmapped", false, false, false, NONE, FIRST, SECOND, false, true },
	{ "PTE-mapped THP, second half unmapped", false, false, false, NONE, SECOND, FIRST, false, true },
	{ "PMD-mapped THP shared with a child", true, true, true, NONE, NONE, NONE, true, false },
	{ "PTE-mapped THP shared with a child", false, false, true, NONE, NONE, NONE, true, true },
	{ "PMD-mapped THP partly shared, child keeps first half", true, true, true, SECOND, NONE, NONE,
	  true, false },
	{ "PMD-mapped THP partly shared, child keeps second half", true, true, true, FIRST, NONE, NONE,
	  true, false },
	{ "PTE-mapped THP partly shared, child keeps first half", false, false, true, SECOND, NONE, NONE,
	  true, true },
	{ "PTE-mapped THP partly shared, child keeps second half", false, false, true, FIRST, NONE, NONE,
	  true, true },
	{ "THP mapped in disjoint halves, parent first, child second", false, false, true, FIRST, SECOND,
	  FIRST, true, true },
};
#define NR_THP_SCENARIOS (int)(sizeof(thp_scenarios) / sizeof(thp_scenarios[0]))

enum kind { K_THP, K_SMALL, K_KSM };

static void case_name(char *buf, size_t len, bool cold, const char *text, size_t size)
{
	snprintf(buf, len, "%s %s (%zu kB)", cold ? "MADV_COLD" : "MADV_PAGEOUT", text, size / 1024);
}

struct child {
	pid_t pid;
	int ready, go;	/* parent's ends of the pipes */
};

/* fork a child that unmaps `unmap` of [mem, mem + size), says so, and waits; 0 on success */
static int start_child(struct child *c, char *mem, size_t size, enum half unmap, bool rewrite,
		       char *msg, size_t len)
{
	int ready[2], go[2];
	char ch;
	struct pollfd pfd;

	c->pid = -1;
	if (pipe(ready)) {
		snprintf(msg, len, "pipe: %s", strerror(errno));
		return -1;
	}
	if (pipe(go)) {
		snprintf(msg, len, "pipe: %s", strerror(errno));
		close(ready[0]);
		close(ready[1]);
		return -1;
	}
	fflush(stdout);
	fflush(stderr);
	c->pid = fork();
	if (c->pid < 0) {
		snprintf(msg, len, "fork: %s", strerror(errno));
		close(ready[0]);
		close(ready[1]);
		close(go[0]);
		close(go[1]);
		return -1;
	}
	if (c->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(ready[0]);
		close(go[1]);
		ch = 'r';
		if (unmap != NONE && munmap(mem + (unmap == SECOND ? size / 2 : 0), size / 2))
			ch = 'u';
		if (rewrite)	/* KSM: break COW, so that the child has its own page with the same bytes */
			*(volatile char *)mem = *(volatile char *)mem;
		if (write(ready[1], &ch, 1) != 1)
			_exit(1);
		while (read(go[0], &ch, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(ready[1]);
	close(go[0]);
	c->ready = ready[0];
	c->go = go[1];
	pfd.fd = c->ready;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 30000) != 1 || read(c->ready, &ch, 1) != 1) {
		snprintf(msg, len, "the child did not get ready");
		return -1;
	}
	if (ch != 'r') {
		snprintf(msg, len, "munmap in the child failed");
		return -1;
	}
	return 0;
}

static void stop_child(struct child *c)
{
	char ch = 'g';

	if (c->pid <= 0)
		return;
	if (write(c->go, &ch, 1) != 1) {
		/* the child is killed below anyway */
	}
	close(c->go);
	close(c->ready);
	kill(c->pid, SIGKILL);
	while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
		;
	c->pid = -1;
}

/*
 * madvise() the parent's range and judge what happened to it.
 * For MADV_COLD the pages are first marked accessed (PG_referenced), and the
 * verdict reads whether PG_referenced was cleared (MADV_COLD clears it on every
 * folio it deactivates; nothing else clears it without memory pressure).
 */
static void advise_and_judge(char *start, size_t len, bool cold, bool shared, bool pmd_mapped,
			     struct outcome *o)
{
	size_t n = len / pagesize, acted, i;
	struct state before, after;

	if (range_state(start, n, cold, &before)) {
		set_outcome(o, V_ERROR, "cannot read pagemap");
		return;
	}
	if (before.present != n) {
		set_outcome(o, V_ERROR, "only %zu of %zu pages present before madvise", before.present, n);
		return;
	}
	if (cold) {
		/*
		 * Mark the pages accessed until PG_referenced shows: mark_page_accessed()
		 * sets it, then activates the folio and clears it, then sets it again;
		 * a small folio's activation waits in a per-CPU batch, so its flags
		 * may go round that cycle more than once.
		 */
		for (i = 0; i < 6; i++) {
			if (touch_range(start, len, 1)) {
				set_outcome(o, V_ERROR, "reading /proc/self/mem: %s", strerror(errno));
				return;
			}
			range_state(start, n, true, &before);
			if (before.referenced == n)
				break;
		}
		if (before.referenced != n) {
			set_outcome(o, V_SKIP, "LRU state not observable: %zu of %zu pages REFERENCED, %zu ACTIVE "
				    "in /proc/kpageflags after marking them accessed%s", before.referenced, n,
				    before.active, pmd_mapped ? " (GUP marks a PMD-mapped THP young, not accessed)" : "");
			return;
		}
	}
	if (madvise(start, len, cold ? MADV_COLD : MADV_PAGEOUT)) {
		if (errno == EINVAL)
			set_outcome(o, V_SKIP, "madvise(%s) not supported", cold ? "MADV_COLD" : "MADV_PAGEOUT");
		else
			set_outcome(o, V_ERROR, "madvise(%s): %s", cold ? "MADV_COLD" : "MADV_PAGEOUT",
				    strerror(errno));
		return;
	}
	if (range_state(start, n, cold, &after)) {
		set_outcome(o, V_ERROR, "cannot read pagemap");
		return;
	}
	if (cold) {
		if (after.present != n) {
			set_outcome(o, V_ERROR, "%zu of %zu pages left memory after MADV_COLD", n - after.present, n);
			return;
		}
		acted = n - after.referenced;
		printf("# %zu of %zu pages deactivated (PG_referenced cleared); ACTIVE %zu -> %zu\n",
		       acted, n, before.active, after.active);
	} else {
		acted = after.swapped;
		printf("# %zu of %zu pages paged out (swapped), %zu present\n", acted, n, after.present);
		if (after.swapped + after.present != n) {
			set_outcome(o, V_ERROR, "%zu of %zu pages neither present nor swapped",
				    n - after.swapped - after.present, n);
			return;
		}
	}
	if (shared) {
		if (acted == 0)
			set_outcome(o, V_PASS, "");
		else
			set_outcome(o, V_WRONG, "%zu of %zu pages", acted, n);
	} else {
		if (acted == n)
			set_outcome(o, V_PASS, "");
		else if (acted == 0)
			set_outcome(o, V_MISSED, "");
		else
			set_outcome(o, V_ERROR, "only %zu of %zu pages %s", acted, n,
				    cold ? "deactivated" : "paged out");
	}
}

static void run_thp(const struct scenario *s, size_t size, bool cold, struct outcome *o)
{
	size_t half = size / 2;
	struct child c = { .pid = -1 };
	char *mem, *start, msg[160];
	size_t len;
	long kb;

	if (thp_select(size)) {
		set_outcome(o, V_ERROR, "cannot set the THP knobs for %zu kB", size / 1024);
		return;
	}
	mem = map_aligned(size, size);
	if (!mem) {
		set_outcome(o, V_ERROR, "mmap: %s", strerror(errno));
		return;
	}
	madvise(mem, size, MADV_HUGEPAGE);	/* direct compaction with defrag=madvise */
	memset(mem, 0x5a, size);
	if (check_thp(mem, size, msg, sizeof(msg))) {
		set_outcome(o, V_SKIP, "did not get a THP populated (%s)", msg);
		goto out;
	}
	/* keep khugepaged from collapsing a PTE-mapped THP back while we look at it */
	madvise(mem, size, MADV_NOHUGEPAGE);
	if (size == pmdsize) {
		kb = smaps_anon_huge_kb(mem);
		if (s->pmd_mapped && kb < (long)(size / 1024)) {
			set_outcome(o, V_SKIP, "did not get a THP populated (not PMD-mapped: AnonHugePages %ld kB)", kb);
			goto out;
		}
		if (!s->pmd_mapped) {
			if (pte_map(mem, size)) {
				set_outcome(o, V_ERROR, "mprotect: %s", strerror(errno));
				goto out;
			}
			kb = smaps_anon_huge_kb(mem);
			if (kb != 0) {
				set_outcome(o, V_ERROR, "still PMD-mapped after a partial mprotect (AnonHugePages %ld kB)", kb);
				goto out;
			}
		}
	}
	if (s->fork && start_child(&c, mem, size, s->child_unmap, false, msg, sizeof(msg))) {
		set_outcome(o, V_ERROR, "%s", msg);
		goto out;
	}
	if (s->parent_unmap != NONE && munmap(mem + (s->parent_unmap == SECOND ? half : 0), half)) {
		set_outcome(o, V_ERROR, "munmap: %s", strerror(errno));
		goto out;
	}
	start = mem + (s->range == SECOND ? half : 0);
	len = s->range == NONE ? size : half;
	advise_and_judge(start, len, cold, s->shared, s->pmd_mapped && size == pmdsize, o);
out:
	stop_child(&c);
	munmap(mem, size);
}

static void run_small(bool shared, bool cold, struct outcome *o)
{
	struct child c = { .pid = -1 };
	char msg[160], *mem;

	mem = mmap(NULL, pagesize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		set_outcome(o, V_ERROR, "mmap: %s", strerror(errno));
		return;
	}
	madvise(mem, pagesize, MADV_NOHUGEPAGE);
	memset(mem, 0x3c, pagesize);
	if (check_small(mem, msg, sizeof(msg))) {
		set_outcome(o, V_SKIP, "%s", msg);
		goto out;
	}
	if (shared && start_child(&c, mem, pagesize, NONE, false, msg, sizeof(msg))) {
		set_outcome(o, V_ERROR, "%s", msg);
		goto out;
	}
	advise_and_judge(mem, pagesize, cold, shared, false, o);
out:
	stop_child(&c);
	munmap(mem, pagesize);
}

/*
 * A KSM page shared with a child: the parent fills a mergeable page, the child
 * writes the same bytes into its copy (breaking COW), ksmd merges the two.
 */
static bool ksm_started;

static int ksm_start(char *msg, size_t len)
{
	if (ksm_started)
		return 0;
	if (knob_set(KSM_DIR "/sleep_millisecs", "10") || knob_set(KSM_DIR "/pages_to_scan", "1000") ||
	    knob_set(KSM_DIR "/run", "1")) {
		snprintf(msg, len, "cannot start ksmd through " KSM_DIR);
		return -1;
	}
	ksm_started = true;
	return 0;
}

static void run_ksm(bool cold, struct outcome *o)
{
	struct child c = { .pid = -1 };
	char msg[160], *mem;
	struct timespec t0, t1;
	uint64_t pm, cpm;
	int child_pagemap = -1;
	char path[64];
	size_t i;

	if (access(KSM_DIR "/run", F_OK)) {
		set_outcome(o, V_SKIP, "Config KSM not enabled (no " KSM_DIR ")");
		return;
	}
	mem = mmap(NULL, pagesize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		set_outcome(o, V_ERROR, "mmap: %s", strerror(errno));
		return;
	}
	madvise(mem, pagesize, MADV_NOHUGEPAGE);
	for (i = 0; i < pagesize; i++)	/* content no other page has */
		mem[i] = (char)(i * 7 + (i >> 8) + getpid() + (cold ? 3 : 5));
	if (madvise(mem, pagesize, MADV_MERGEABLE)) {
		set_outcome(o, V_SKIP, "Config KSM not enabled (MADV_MERGEABLE: %s)", strerror(errno));
		goto out;
	}
	if (check_small(mem, msg, sizeof(msg))) {
		set_outcome(o, V_SKIP, "%s", msg);
		goto out;
	}
	/* the child writes a byte of its page with the value it has: a COW copy with the same bytes */
	if (start_child(&c, mem, pagesize, NONE, true, msg, sizeof(msg))) {
		set_outcome(o, V_ERROR, "%s", msg);
		goto out;
	}
	if (ksm_start(msg, sizeof(msg))) {
		set_outcome(o, V_SKIP, "%s", msg);
		goto out;
	}
	/*
	 * Merged when the parent and the child map the same PFN (the KPF_KSM bit
	 * cannot tell: at v6.12 /proc/kpageflags sets it for every anon page).
	 */
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)c.pid);
	child_pagemap = open(path, O_RDONLY);
	if (child_pagemap < 0) {
		set_outcome(o, V_ERROR, "open %s: %s", path, strerror(errno));
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (pagemap_read(mem, 1, &pm) == 0 && (pm & PM_PRESENT) &&
		    pread(child_pagemap, &cpm, sizeof(cpm), (off_t)((uintptr_t)mem / pagesize * 8)) == sizeof(cpm) &&
		    (cpm & PM_PRESENT) && (pm & PM_PFN_MASK) == (cpm & PM_PFN_MASK))
			break;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (elapsed_ms(&t0, &t1) > KSM_WAIT_MS) {
			set_outcome(o, V_SKIP, "ksmd did not merge the pages within %d s (pages_shared %ld)",
				    KSM_WAIT_MS / 1000, read_long(KSM_DIR "/pages_shared"));
			goto out;
		}
		usleep(20000);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("# ksmd merged the pages in %.0f ms (pages_shared %ld, pages_sharing %ld)\n",
	       elapsed_ms(&t0, &t1), read_long(KSM_DIR "/pages_shared"), read_long(KSM_DIR "/pages_sharing"));
	advise_and_judge(mem, pagesize, cold, true, false, o);
out:
	if (child_pagemap >= 0)
		close(child_pagemap);
	stop_child(&c);
	munmap(mem, pagesize);
}

/* ---------------------------------------------------------------- cost */

/* the THPs of [mem, mem + len) whose head page is REFERENCED and ACTIVE */
static void thp_flags(const char *mem, size_t len, size_t *referenced, size_t *active)
{
	*referenced = *active = 0;
	for (size_t off = 0; off < len; off += pmdsize) {
		uint64_t pm;

		if (pagemap_read(mem + off, 1, &pm) == 0 && (pm & PM_PRESENT)) {
			uint64_t fl = folio_flags(pm & PM_PFN_MASK);

			*referenced += !!(fl & F_REFERENCED);
			*active += !!(fl & F_ACTIVE);
		}
	}
}

/* len bytes of PMD-sized THPs, PTE-mapped, each made active and referenced; NULL on failure */
static char *cost_region(size_t len, const char *what)
{
	size_t thps;
	char *mem;
	long kb;

	mem = map_aligned(len, pmdsize);
	if (!mem) {
		printf("# cost: mmap of %zu MiB failed: %s\n", len >> 20, strerror(errno));
		return NULL;
	}
	madvise(mem, len, MADV_HUGEPAGE);
	memset(mem, 0x5a, len);
	kb = smaps_anon_huge_kb(mem);
	thps = kb > 0 ? (size_t)kb * 1024 / pmdsize : 0;
	madvise(mem, len, MADV_NOHUGEPAGE);
	if (pte_map(mem, len)) {
		printf("# cost: mprotect failed: %s\n", strerror(errno));
		munmap(mem, len);
		return NULL;
	}
	kb = smaps_anon_huge_kb(mem);
	/* make every THP active and referenced, so that MADV_COLD has work to do */
	for (size_t off = 0; off < len; off += pmdsize)
		touch_range(mem + off, pagesize, 3);
	printf("# cost region %s: %zu MiB, %zu of %zu PMD-sized THPs populated, PTE-mapped (AnonHugePages now %ld kB)\n",
	       what, len >> 20, thps, len / pmdsize, kb);
	return mem;
}

static double timed_advice(char *mem, size_t len, int advice, const char *name)
{
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (madvise(mem, len, advice))
		printf("# cost: madvise(%s): %s\n", name, strerror(errno));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return elapsed_ms(&t0, &t1);
}

/*
 * The whole call: MADV_COLD then MADV_PAGEOUT over an exclusive region, whose time is mostly the
 * work that follows the decision (deactivation, reclaim) and so differs as much by what a variant
 * does as by what its helper costs. Then the decision alone: the same over a region a child maps
 * too, which every variant leaves alone, so the time is the walk and the sharing checks.
 */
static void run_cost(void)
{
	const char *env = getenv("PROBE_COST_MB");
	long mb = env && *env ? strtol(env, NULL, 10) : DEFAULT_COST_MB;
	size_t len, n, referenced, active, referenced0, active0;
	double cold_ms, pageout_ms;
	char msg[200];
	struct child child;
	struct state st;
	char *mem;

	if (mb <= 0 || !have_thp)
		return;
	len = ((size_t)mb << 20) / pmdsize * pmdsize;
	if (!len)
		return;
	n = len / pagesize;
	if (thp_select(pmdsize)) {
		printf("# cost: cannot set the THP knobs\n");
		return;
	}
	mem = cost_region(len, "(exclusive)");
	if (!mem)
		return;
	thp_flags(mem, len, &referenced0, &active0);
	cold_ms = timed_advice(mem, len, MADV_COLD, "MADV_COLD");
	thp_flags(mem, len, &referenced, &active);
	printf("# cost region after MADV_COLD: %zu of %zu THPs still REFERENCED, %zu ACTIVE (before: %zu, %zu)\n",
	       referenced, len / pmdsize, active, referenced0, active0);
	pageout_ms = timed_advice(mem, len, MADV_PAGEOUT, "MADV_PAGEOUT");
	if (range_state(mem, n, false, &st) == 0)
		printf("# cost region after MADV_PAGEOUT: %zu of %zu pages paged out\n", st.swapped, n);
	printf("# [COST] MADV_COLD %zu MiB PTE-mapped THP (%zu kB): %.1f ms\n", len >> 20, pmdsize / 1024, cold_ms);
	printf("# [COST] MADV_PAGEOUT %zu MiB PTE-mapped THP (%zu kB): %.1f ms\n", len >> 20, pmdsize / 1024,
	       pageout_ms);
	fflush(stdout);
	munmap(mem, len);

	mem = cost_region(len, "(shared with a child)");
	if (!mem)
		return;
	if (start_child(&child, mem, len, NONE, false, msg, sizeof(msg))) {
		printf("# cost: %s\n", msg);
		stop_child(&child);
		munmap(mem, len);
		return;
	}
	thp_flags(mem, len, &referenced0, &active0);
	cold_ms = timed_advice(mem, len, MADV_COLD, "MADV_COLD");
	thp_flags(mem, len, &referenced, &active);
	pageout_ms = timed_advice(mem, len, MADV_PAGEOUT, "MADV_PAGEOUT");
	if (range_state(mem, n, false, &st) == 0)
		printf("# cost region (shared) after MADV_COLD and MADV_PAGEOUT: %zu of %zu THPs still REFERENCED "
		       "(before: %zu), %zu of %zu pages paged out%s\n", referenced, len / pmdsize, referenced0,
		       st.swapped, n, st.swapped || referenced < referenced0 ?
		       ": the variant acted on shared folios, so these times are not the decision alone" : "");
	printf("# [COST] decision only: MADV_COLD %zu MiB PTE-mapped THP shared with a child (%zu kB): %.1f ms\n",
	       len >> 20, pmdsize / 1024, cold_ms);
	printf("# [COST] decision only: MADV_PAGEOUT %zu MiB PTE-mapped THP shared with a child (%zu kB): %.1f ms\n",
	       len >> 20, pmdsize / 1024, pageout_ms);
	fflush(stdout);
	stop_child(&child);
	munmap(mem, len);
}

/* ---------------------------------------------------------------- main */

struct plan_entry {
	enum kind kind;
	const struct scenario *s;	/* K_THP */
	size_t size;
	bool cold;
	bool shared;			/* K_SMALL */
};

static struct plan_entry plan[400];
static int nplan;

static void add(enum kind kind, const struct scenario *s, size_t size, bool cold, bool shared)
{
	if (nplan < (int)(sizeof(plan) / sizeof(plan[0])))
		plan[nplan++] = (struct plan_entry){ kind, s, size, cold, shared };
}

static void make_plan(void)
{
	int i, j, c;

	if (have_thp) {
		/* the PMD size first, then every other mTHP size, ascending */
		size_t sizes[25];
		int nsizes = 0;

		sizes[nsizes++] = pmdsize;
		for (i = 0; i < nthp; i++)
			if (thp_kb[i] * 1024 != pmdsize && thp_kb[i] * 1024 > pagesize)
				sizes[nsizes++] = thp_kb[i] * 1024;
		for (j = 0; j < nsizes; j++)
			for (c = 0; c < 2; c++)
				for (i = 0; i < NR_THP_SCENARIOS; i++) {
					const struct scenario *s = &thp_scenarios[i];

					if (s->pmd_only && sizes[j] != pmdsize)
						continue;
					if (c && !s->cold)
						continue;
					add(K_THP, s, sizes[j], c, s->shared);
				}
	}
	for (c = 0; c < 2; c++) {
		add(K_SMALL, NULL, pagesize, c, false);
		add(K_SMALL, NULL, pagesize, c, true);
	}
	add(K_KSM, NULL, pagesize, false, true);
	add(K_KSM, NULL, pagesize, true, true);
}

int main(void)
{
	struct outcome o;
	char name[200];
	int i;
	long swap_kb = -1;
	FILE *f;
	char line[256];
	struct timespec t_end;

	main_pid = getpid();
	pagesize = sysconf(_SC_PAGESIZE);
	clock_gettime(CLOCK_MONOTONIC, &t_start);
	setvbuf(stdout, NULL, _IOLBF, 0);

	printf("TAP version 13\n");
	if (geteuid() != 0) {
		printf("1..0 # SKIP Please run this test as root (PFNs in pagemap, /proc/kpageflags, sysfs knobs)\n");
		return 4;
	}
	pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
	kpageflags_fd = open("/proc/kpageflags", O_RDONLY);
	mem_fd = open("/proc/self/mem", O_RDONLY);
	if (pagemap_fd < 0 || kpageflags_fd < 0 || mem_fd < 0) {
		printf("1..0 # SKIP cannot open /proc/self/pagemap, /proc/kpageflags or /proc/self/mem "
		       "(CONFIG_PROC_PAGE_MONITOR?)\n");
		return 4;
	}
	f = fopen("/proc/meminfo", "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "SwapTotal: %ld", &swap_kb) == 1)
			break;
	if (f)
		fclose(f);
	if (swap_kb <= 0) {
		printf("1..0 # SKIP no swap: MADV_PAGEOUT cannot page anything out\n");
		return 4;
	}

	atexit(knobs_restore);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGSEGV, on_signal);
	signal(SIGBUS, on_signal);
	signal(SIGABRT, on_signal);
	signal(SIGPIPE, SIG_IGN);

	detect_thp();
	make_plan();
	printf("1..%d\n", nplan);
	printf("# page size %zu, PMD THP size %zu kB, %d THP sizes with their own knob, swap %ld kB\n",
	       pagesize, have_thp ? pmdsize / 1024 : 0, nthp, swap_kb);

	for (i = 0; i < nplan; i++) {
		struct plan_entry *p = &plan[i];

		memset(&o, 0, sizeof(o));
		if (p->kind == K_THP)
			case_name(name, sizeof(name), p->cold, p->s->text, p->size);
		else if (p->kind == K_SMALL)
			case_name(name, sizeof(name), p->cold,
				  p->shared ? "small page shared with a child" : "exclusive small page", p->size);
		else
			case_name(name, sizeof(name), p->cold, "KSM page shared with a child", p->size);
		begin_case(name);
		if (p->kind == K_THP)
			run_thp(p->s, p->size, p->cold, &o);
		else if (p->kind == K_SMALL)
			run_small(p->shared, p->cold, &o);
		else
			run_ksm(p->cold, &o);
		end_case(name, p->cold, &o);
	}
	knobs_restore();

	run_cost();
	knobs_restore();

	clock_gettime(CLOCK_MONOTONIC, &t_end);
	printf("# probe took %.1f s\n", elapsed_ms(&t_start, &t_end) / 1000);
	printf("# Totals: pass:%d fail:%d xfail:0 xpass:0 skip:%d error:%d\n", n_pass, n_fail, n_skip, n_error);
	fflush(stdout);
	if (n_fail || n_error)
		return 1;
	if (n_skip == nplan)
		return 4;
	return 0;
}
