// SPDX-License-Identifier: GPL-2.0
/*
 * probe: does MADV_FREE make another process lose its data?
 *
 * MADV_FREE (madvise_free_pte_range(), madvise_free_huge_pmd()) clears the
 * caller's PTE dirty/young bits and marks the folio lazyfree (not swapbacked).
 * If the folio is in the swap cache or PG_dirty, the kernel must first decide
 * that no other process maps it: only then may it free the swap
 * (folio_free_swap() sets PG_dirty) and clear PG_dirty. At reclaim,
 * try_to_unmap_one() discards every mapping of a lazyfree folio whose PTE and
 * folio are clean. A dirty PTE in any process re-dirties the folio and saves
 * it, so after a plain fork() (the child's PTEs stay dirty) a wrong check
 * loses nothing at v6.12. Not so at v6.1: its PMD split does not carry the
 * PMD's dirty bit into the PTEs (it sets PG_dirty instead, "breaks sparc64"),
 * so a PTE-mapped THP's PTEs are clean in both processes, and a check that
 * wrongly clears PG_dirty loses the other process's data even there. The
 * child's `LazyFree` after madvise (in the evidence) shows its clean mappings
 * of a lazyfree folio.
 *
 * The clean-PTE cases are why this probe exists: the shared pages are swapped
 * out (memory.reclaim of the probe's own cgroup) and read back by every
 * process. A read fault maps the swap-cache folio with a clean PTE (with two
 * or more mappers the swap count is above 1, so zram's SWP_SYNCHRONOUS_IO
 * shortcut is not taken). A kernel that calls that folio exclusive frees its
 * swap, clears PG_dirty, marks it lazyfree, and reclaim then drops the other
 * processes' clean mappings too: they read zeros. That is DATA LOSS.
 *
 * For a large folio the swap-out must stop halfway (a folio written out is
 * freed, and swap-in of a shared entry gives small folios): the parent
 * mlock()s (MLOCK_ONFAULT) the folio's last page, which splits its VMA but
 * does not mlock the folio. Reclaim puts the folio in the swap cache, replaces
 * the PTEs of the VMAs the rmap walk meets first (the parent's other pages,
 * the child's) by swap entries and stops at the locked VMA. After munlock()
 * both processes read the pages back from the swap cache: one large folio in
 * the swap cache, mapped with clean PTEs by the child.
 *
 * Every case: fill the pages with per-page data before fork(), set the state
 * up (children keep their part mapped and touch nothing), check it again,
 * madvise(MADV_FREE) from the parent only, read LazyFree: of every process's
 * VMA from /proc/PID/smaps and the folio's flags from /proc/kpageflags
 * without touching the pages, reclaim, then have every process check its
 * pages: its data, zeros, or other. Verdicts: correct; missed (an exclusive
 * folio not freed); split (a shared folio split); DATA LOSS (a process other
 * than the caller, or the caller's pages it did not advise, lost data);
 * inconclusive (the state was not what the scenario needs).
 *
 * Prints kselftest-style TAP 13 (no kselftest.h; what it shares with the
 * other studies' probes is in ../../probe-common/probe_common.h), must be run
 * as root with swap enabled and cgroup v2 with the memory controller (it
 * mounts cgroup2 on /sys/fs/cgroup if nothing is there).
 *
 * Build: gcc -O2 -Wall -o probe probe.c
 */
#define _GNU_SOURCE
/* the /proc/vmstat counters that tell what the kernel did */
#define PROBE_VMSTAT "pglazyfree", "pglazyfreed", "thp_split_page", "thp_split_page_failed", "pswpout", \
		     "pswpin", "thp_swpout", "thp_swpout_fallback"
#define VM_PSWPOUT 4
#include "../../probe-common/probe_common.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>

#ifndef MADV_FREE
#define MADV_FREE 8
#endif
#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 0x01
#endif
#ifndef __NR_mlock2
#define __NR_mlock2 325		/* x86_64 */
#endif
#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

#define CG_ROOT		"/sys/fs/cgroup"
#define CG_DIR		CG_ROOT "/probe-lazyfree"
#define SMALL_PAGES	8	/* pages of a small-page case */
#define KID_TIMEOUT_MS	60000
#define MAX_KIDS	2

static char *drain_page;	/* never touched: MADV_FREE on it only drains this CPU's LRU batches */


/* ---------------------------------------------------------------- cgroup */

static bool cg_made, cg_mounted, cg_enabled_memory;
static char cg_home[640];	/* the cgroup.procs the probe came from */
static char cg_pid[24];

static int cg_setup(char *msg, size_t len)
{
	struct statfs sf;
	char buf[256], path[320], *p;
	FILE *f;

	if (statfs(CG_ROOT, &sf) || sf.f_type != CGROUP2_SUPER_MAGIC) {
		if (mount("none", CG_ROOT, "cgroup2", 0, NULL)) {
			snprintf(msg, len, "no cgroup v2 at " CG_ROOT " and mounting it failed: %s", strerror(errno));
			return -1;
		}
		cg_mounted = true;
	}
	if (read_text(CG_ROOT "/cgroup.controllers", buf, sizeof(buf)) || !strstr(buf, "memory")) {
		snprintf(msg, len, "no cgroup v2 memory controller (cgroup.controllers: %s)", buf);
		return -1;
	}
	if (read_text(CG_ROOT "/cgroup.subtree_control", buf, sizeof(buf)))
		buf[0] = '\0';
	if (!strstr(buf, "memory")) {
		if (write_text(CG_ROOT "/cgroup.subtree_control", "+memory")) {
			snprintf(msg, len, "cannot enable the memory controller in " CG_ROOT "/cgroup.subtree_control");
			return -1;
		}
		cg_enabled_memory = true;
	}
	/* where the probe is now: "0::/path" */
	snprintf(cg_home, sizeof(cg_home), CG_ROOT "/cgroup.procs");
	f = fopen("/proc/self/cgroup", "r");
	while (f && fgets(buf, sizeof(buf), f)) {
		if (strncmp(buf, "0::", 3))
			continue;
		p = buf + 3;
		p[strcspn(p, "\n")] = '\0';
		snprintf(path, sizeof(path), CG_ROOT "%s/cgroup.procs", strcmp(p, "/") ? p : "");
		if (!access(path, W_OK))
			snprintf(cg_home, sizeof(cg_home), "%s", path);
	}
	if (f)
		fclose(f);
	rmdir(CG_DIR);	/* left over from a run that was killed */
	if (mkdir(CG_DIR, 0755) && errno != EEXIST) {
		snprintf(msg, len, "cannot create " CG_DIR ": %s", strerror(errno));
		return -1;
	}
	cg_made = true;
	snprintf(cg_pid, sizeof(cg_pid), "%d", (int)getpid());
	if (write_text(CG_DIR "/cgroup.procs", cg_pid)) {
		snprintf(msg, len, "cannot move the probe into " CG_DIR);
		return -1;
	}
	if (access(CG_DIR "/memory.reclaim", W_OK)) {
		snprintf(msg, len, "no memory.reclaim in " CG_DIR " (a kernel before 5.19?)");
		return -1;
	}
	return 0;
}

/* async-signal-safe */
static void cg_teardown(void)
{
	if (getpid() != main_pid)
		return;
	if (cg_made) {
		if (write_text(cg_home, cg_pid))
			write_text(CG_ROOT "/cgroup.procs", cg_pid);
		rmdir(CG_DIR);
		cg_made = false;
	}
	if (cg_enabled_memory) {
		write_text(CG_ROOT "/cgroup.subtree_control", "-memory");
		cg_enabled_memory = false;
	}
	if (cg_mounted) {
		umount2(CG_ROOT, MNT_DETACH);
		cg_mounted = false;
	}
}

/* the children alive now, killed before the cgroup is removed (a cgroup with tasks cannot be) */
static volatile pid_t live_kids[MAX_KIDS + 1];

static void kill_kids(void)
{
	int i;

	if (getpid() != main_pid)
		return;
	for (i = 0; i <= MAX_KIDS; i++) {
		pid_t pid = live_kids[i];

		if (pid > 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			live_kids[i] = 0;
		}
	}
}

static void cleanup(void)
{
	kill_kids();
	knobs_restore();
	cg_teardown();
}

static void on_signal(int sig)
{
	cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

static long reclaim_ms_total;

/*
 * Reclaim the probe's cgroup (its processes only) as far as it goes. memory.reclaim retries
 * until 16 attempts reclaim nothing and then says EAGAIN, so asking for far more than the
 * cgroup holds scans its LRU lists down to priority 0 many times over: a lazyfree folio that a
 * young PTE kept on the first pass is taken on a later one.
 */
static void cg_reclaim(int rounds)
{
	struct timespec a, b;
	int i;

	clock_gettime(CLOCK_MONOTONIC, &a);
	for (i = 0; i < rounds; i++)
		write_text(CG_DIR "/memory.reclaim", "1G");	/* EAGAIN: reclaimed less (expected) */
	clock_gettime(CLOCK_MONOTONIC, &b);
	reclaim_ms_total += (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
}

/* ---------------------------------------------------------------- TAP */

enum verdict { V_PASS, V_MISSED, V_SPLIT, V_LOSS, V_INCONCLUSIVE, V_SKIP, V_ERROR };

struct outcome {
	enum verdict v;
	char msg[240];
};

static void set_outcome(struct outcome *o, enum verdict v, const char *fmt, ...)
{
	va_list ap;

	o->v = v;
	va_start(ap, fmt);
	vsnprintf(o->msg, sizeof(o->msg), fmt, ap);
	va_end(ap);
}

static void end_case(const char *name, const struct outcome *o)
{
	const char *sep = o->msg[0] ? ": " : "";

	switch (o->v) {
	case V_PASS:
		tap_pass(name);
		break;
	case V_MISSED:
		tap_fail(name, "treated exclusive as shared (not freed)%s%s", sep, o->msg);
		break;
	case V_SPLIT:
		tap_fail(name, "split a shared folio%s%s", sep, o->msg);
		break;
	case V_LOSS:
		tap_fail(name, "DATA LOSS: %s", o->msg);
		break;
	case V_INCONCLUSIVE:
		tap_skip(name, "inconclusive: %s", o->msg);
		break;
	case V_SKIP:
		tap_skip(name, "%s", o->msg);
		break;
	case V_ERROR:
		tap_error(name, o->msg);
		break;
	}
}

/* ---------------------------------------------------------------- memory introspection */

/* the flags of the folio's head (a folio is naturally aligned: the first aligned HEAD below) */
static uint64_t head_flags(uint64_t pfn)
{
	uint64_t f = kpf(pfn), hf;
	int order;

	if (!(f & F_TAIL))
		return f;
	for (order = 1; order <= 18; order++) {
		hf = kpf(pfn & ~((1ULL << order) - 1));
		if (hf & F_HEAD)
			return hf;
	}
	return f;
}

/* fields of /proc/PID/smaps summed over the VMAs that overlap [lo, hi) */
struct smaps_sum {
	long lazyfree, anon_huge, shared_clean, shared_dirty, private_clean, private_dirty, swap;
};

static int smaps_of(pid_t pid, const void *lo, const void *hi, struct smaps_sum *s)
{
	char path[64], line[512];
	unsigned long start, end;
	bool in = false;
	FILE *f;

	memset(s, 0, sizeof(*s));
	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/smaps");
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		/* a VMA's header line: "start-end perms offset dev inode path"; no field line parses so */
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2) {
			in = start < (uintptr_t)hi && (uintptr_t)lo < end;
			continue;
		}
		if (!in)
			continue;
		if (!strncmp(line, "LazyFree:", 9))
			s->lazyfree += strtol(line + 9, NULL, 10);
		else if (!strncmp(line, "AnonHugePages:", 14))
			s->anon_huge += strtol(line + 14, NULL, 10);
		else if (!strncmp(line, "Shared_Clean:", 13))
			s->shared_clean += strtol(line + 13, NULL, 10);
		else if (!strncmp(line, "Shared_Dirty:", 13))
			s->shared_dirty += strtol(line + 13, NULL, 10);
		else if (!strncmp(line, "Private_Clean:", 14))
			s->private_clean += strtol(line + 14, NULL, 10);
		else if (!strncmp(line, "Private_Dirty:", 14))
			s->private_dirty += strtol(line + 14, NULL, 10);
		else if (!strncmp(line, "Swap:", 5))
			s->swap += strtol(line + 5, NULL, 10);
	}
	fclose(f);
	return 0;
}

/* pages of a range: present, swapped, and (present) whose folio is lazyfree (anon, not swapbacked) */
struct pmstate {
	size_t present, swapped, lazyfree, swapcache;
};

static int pm_state(pid_t pid, const char *addr, size_t npages, struct pmstate *st)
{
	uint64_t *pm = calloc(npages ? npages : 1, sizeof(uint64_t)), f;
	size_t i;

	memset(st, 0, sizeof(*st));
	if (!pm || pagemap_of(pid, addr, npages, pm)) {
		free(pm);
		return -1;
	}
	for (i = 0; i < npages; i++) {
		if (pm[i] & PM_SWAP)
			st->swapped++;
		if (!(pm[i] & PM_PRESENT))
			continue;
		st->present++;
		f = head_flags(pm[i] & PM_PFN_MASK);
		if ((f & F_ANON) && !(f & F_SWAPBACKED))
			st->lazyfree++;
		if (f & F_SWAPCACHE)
			st->swapcache++;
	}
	free(pm);
	return 0;
}

/* ---------------------------------------------------------------- data */

/*
 * Every 8-byte word of every page: from the seed, the page's index in the region and the word's
 * index; never zero, and no two pages alike (so that zram compresses nothing away and a page that
 * comes back from the wrong place does not read as intact).
 */
static inline uint64_t pattern(unsigned int seed, size_t page, size_t word)
{
	uint64_t x = ((uint64_t)seed << 40) ^ ((uint64_t)page << 12) ^ word;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x | 1;
}

static void fill(char *mem, size_t npages, unsigned int seed)
{
	size_t p, w, words = pagesize / sizeof(uint64_t);

	for (p = 0; p < npages; p++) {
		uint64_t *q = (uint64_t *)(mem + p * pagesize);

		for (w = 0; w < words; w++)
			q[w] = pattern(seed, p, w);
	}
}

struct tally {
	uint32_t intact, zero, other;
};

/* read (never write) pages [first, first + n) of the region at mem and say what each holds */
static void tally_pages(const char *mem, size_t first, size_t n, unsigned int seed, struct tally *t)
{
	size_t p, w, words = pagesize / sizeof(uint64_t);

	memset(t, 0, sizeof(*t));
	for (p = first; p < first + n; p++) {
		const volatile uint64_t *q = (const volatile uint64_t *)(mem + p * pagesize);
		bool intact = true, zero = true;

		for (w = 0; w < words; w++) {
			uint64_t v = q[w];

			if (v != pattern(seed, p, w))
				intact = false;
			if (v)
				zero = false;
			if (!intact && !zero)
				break;
		}
		if (intact)
			t->intact++;
		else if (zero)
			t->zero++;
		else
			t->other++;
	}
}

/* read-fault pages [first, first + n): one load a page */
static void read_pages(const char *mem, size_t first, size_t n)
{
	uint64_t sum = 0;
	size_t p;

	for (p = first; p < first + n; p++)
		sum += *(const volatile uint64_t *)(mem + p * pagesize);
	__asm__ volatile("" : : "r"(sum));
}

/* ---------------------------------------------------------------- children */

struct kid {
	pid_t pid;
	int cmd, rsp;		/* parent's ends of the pipes */
	size_t first, n;	/* the pages of the region it keeps mapped */
};

static int kid_wait(struct kid *k, void *buf, size_t len)
{
	struct pollfd pfd = { .fd = k->rsp, .events = POLLIN };
	size_t got = 0;
	ssize_t r;

	while (got < len) {
		if (poll(&pfd, 1, KID_TIMEOUT_MS) != 1)
			return -1;
		r = read(k->rsp, (char *)buf + got, len - got);
		if (r <= 0)
			return -1;
		got += r;
	}
	return 0;
}

/*
 * fork a child that keeps pages [first, first + n) of the region [mem, mem + npages pages)
 * mapped, unmaps the rest, says so, and then serves commands: 'R' read-fault its pages, 'L'
 * mlock2(MLOCK_ONFAULT) them, 'C' check them (a struct tally back), 'Q' or EOF exit. 0 on
 * success.
 */
static int kid_start(struct kid *k, char *mem, size_t npages, size_t first, size_t n, unsigned int seed,
		     char *msg, size_t len)
{
	int cmd[2], rsp[2];
	char ch;

	k->pid = -1;
	k->first = first;
	k->n = n;
	k->pid = fork_piped(cmd, rsp, msg, len);
	if (k->pid < 0)
		return -1;
	if (k->pid == 0) {
		struct tally t;

		close(cmd[1]);
		close(rsp[0]);
		ch = 'r';
		if (first && munmap(mem, first * pagesize))
			ch = 'u';
		if (first + n < npages && munmap(mem + (first + n) * pagesize, (npages - first - n) * pagesize))
			ch = 'u';
		if (write(rsp[1], &ch, 1) != 1)
			_exit(1);
		for (;;) {
			ssize_t r = read(cmd[0], &ch, 1);

			if (r < 0 && errno == EINTR)
				continue;
			if (r != 1 || ch == 'Q')
				_exit(0);
			if (ch == 'R') {
				read_pages(mem, first, n);
				ch = 'k';
				if (write(rsp[1], &ch, 1) != 1)
					_exit(1);
			} else if (ch == 'L') {
				ch = syscall(__NR_mlock2, mem + first * pagesize, n * pagesize, MLOCK_ONFAULT) ? 'e' : 'k';
				if (write(rsp[1], &ch, 1) != 1)
					_exit(1);
			} else if (ch == 'C') {
				tally_pages(mem, first, n, seed, &t);
				if (write(rsp[1], &t, sizeof(t)) != sizeof(t))
					_exit(1);
			}
		}
	}
	for (int i = 0; i <= MAX_KIDS; i++)
		if (!live_kids[i]) {
			live_kids[i] = k->pid;
			break;
		}
	close(cmd[0]);
	close(rsp[1]);
	k->cmd = cmd[1];
	k->rsp = rsp[0];
	if (kid_wait(k, &ch, 1)) {
		snprintf(msg, len, "the child did not get ready");
		return -1;
	}
	if (ch != 'r') {
		snprintf(msg, len, "munmap in the child failed");
		return -1;
	}
	return 0;
}

/* 'R' or 'L': 0 when the child did it */
static int kid_do(struct kid *k, char what)
{
	char ch = what;

	if (write(k->cmd, &ch, 1) != 1 || kid_wait(k, &ch, 1) || ch != 'k')
		return -1;
	return 0;
}

static int kid_check(struct kid *k, struct tally *t)
{
	char ch = 'C';

	if (write(k->cmd, &ch, 1) != 1 || kid_wait(k, t, sizeof(*t)))
		return -1;
	return 0;
}

static void kid_stop(struct kid *k)
{
	if (k->pid <= 0)
		return;
	reap_piped(k->pid, k->cmd, k->rsp, 'Q');
	for (int i = 0; i <= MAX_KIDS; i++)
		if (live_kids[i] == k->pid)
			live_kids[i] = 0;
	k->pid = -1;
}

/* ---------------------------------------------------------------- scenarios */

enum shape { SMALL, PTE_THP, PMD_THP };

enum scen {
	S_EXCL,			/* exclusive, all of it advised */
	S_EXCL_HALF,		/* exclusive, the first half advised */
	S_SHARED,		/* a child shares it (plain fork) */
	S_PART_FIRST,		/* the child keeps only the first half */
	S_PART_SECOND,		/* the child keeps only the second half */
	S_DISJOINT,		/* the parent keeps the first half, the child the second */
	/* the same with the children's PTEs clean: swapped out and read back */
	S_CLEAN,
	S_CLEAN2,		/* two children */
	S_PART_FIRST_CLEAN,
	S_PART_SECOND_CLEAN,
	S_DISJOINT_CLEAN,
};

static const char *scen_text(enum scen s, enum shape sh)
{
	switch (sh) {
	case SMALL:
		switch (s) {
		case S_EXCL: return "exclusive small pages";
		case S_SHARED: return "small pages shared with a child, plain fork";
		case S_CLEAN: return "small pages shared with a child, PTEs clean";
		case S_CLEAN2: return "small pages shared with two children, PTEs clean";
		default: return "?";
		}
	case PTE_THP:
		switch (s) {
		case S_EXCL: return "exclusive PTE-mapped THP";
		case S_EXCL_HALF: return "exclusive PTE-mapped THP, first half advised";
		case S_SHARED: return "PTE-mapped THP shared with a child, plain fork";
		case S_PART_FIRST: return "PTE-mapped THP partly shared, child keeps first half";
		case S_PART_SECOND: return "PTE-mapped THP partly shared, child keeps second half";
		case S_DISJOINT: return "THP mapped in disjoint halves, parent first, child second";
		case S_CLEAN: return "PTE-mapped THP shared with a child, PTEs clean";
		case S_PART_FIRST_CLEAN: return "PTE-mapped THP partly shared, child keeps first half, PTEs clean";
		case S_PART_SECOND_CLEAN: return "PTE-mapped THP partly shared, child keeps second half, PTEs clean";
		case S_DISJOINT_CLEAN: return "THP mapped in disjoint halves, parent first, child second, PTEs clean";
		default: return "?";
		}
	case PMD_THP:
		switch (s) {
		case S_EXCL: return "exclusive PMD-mapped THP";
		case S_EXCL_HALF: return "exclusive PMD-mapped THP, first half advised";
		case S_SHARED: return "PMD-mapped THP shared with a child, plain fork";
		case S_PART_FIRST: return "PMD-mapped THP partly shared, child keeps first half";
		case S_PART_SECOND: return "PMD-mapped THP partly shared, child keeps second half";
		default: return "?";
		}
	}
	return "?";
}

static bool scen_shared(enum scen s)
{
	return s != S_EXCL && s != S_EXCL_HALF;
}

static bool scen_clean(enum scen s)
{
	return s >= S_CLEAN;
}

static void drain_lru(void)
{
	/* madvise_free_single_vma() starts with lru_add_drain(): this CPU's lazyfree batch moves */
	madvise(drain_page, pagesize, MADV_FREE);
}

/* "3 of 8 pages zero, 1 other" */
static void tally_text(const struct tally *t, size_t n, char *buf, size_t len)
{
	if (t->intact == n)
		snprintf(buf, len, "%zu of %zu intact", n, n);
	else if (t->zero == n)
		snprintf(buf, len, "%zu of %zu zero", n, n);
	else
		snprintf(buf, len, "%u intact, %u zero, %u other of %zu", t->intact, t->zero, t->other, n);
}

static const char *kid_name(int k, int nkids)
{
	return nkids > 1 ? (k ? "the second child" : "the first child") : "the child";
}

/*
 * The children's PTEs made clean (the parent's own do not matter: MADV_FREE cleans them), then
 * checked: every process maps the folio (or each small page) again, from the swap cache. 0: done,
 * the evidence in `setup`; else the outcome says why not.
 *
 * Small pages: swapped out of every process, then read back, the parent first: the swap count
 * is above 1, so do_swap_page() goes through swapin_readahead() and the swap cache instead of
 * zram's SWP_SYNCHRONOUS_IO shortcut, and a read fault maps the folio with a clean PTE.
 *
 * A large folio: written out it would be freed, and read back from swap it would come back as
 * small folios (a shared swap entry is never read into a large folio). So a locker child that
 * maps only the folio's last page mlocks it (MLOCK_ONFAULT: a folio not within the VMA is not
 * mlocked, it stays on the LRU). Reclaim adds the folio to the swap cache (dirty), replaces the
 * PTEs of every VMA the rmap walk meets before the locker's (which has the highest offset into
 * the folio) by swap entries, and stops at the locked VMA: the folio stays in the swap cache,
 * never written out. The locker exits, the others read their pages back from the swap cache.
 */
static int make_clean(char *mem, size_t n, size_t p_n, uint64_t pfn0, size_t size, struct kid *kids,
		      int nkids, struct kid *locker, uint64_t *ppm, char *setup, size_t setup_len, struct outcome *o)
{
	bool large = size > pagesize;
	size_t i, kswapped = 0, c_n = kids[0].n;
	struct counters cr0, cr1;
	struct smaps_sum ss;
	struct pmstate ps, kst;
	char moved[300];
	int k;

	if (large && kid_do(locker, 'L')) {
		set_outcome(o, V_ERROR, "mlock2(MLOCK_ONFAULT) in the locker child failed");
		return -1;
	}
	counters_read(&cr0, size);
	cg_reclaim(1);
	counters_read(&cr1, size);
	counters_delta(&cr0, &cr1, size, moved, sizeof(moved));
	if (large)
		kid_stop(locker);
	pm_state(0, mem, p_n, &ps);
	for (k = 0; k < nkids; k++) {
		pm_state(kids[k].pid, mem + kids[k].first * pagesize, kids[k].n, &kst);
		kswapped += kst.swapped;
	}
	if (large) {
		uint64_t hf = kpf(pfn0);

		if (!folio_whole(pfn0, n) || !(hf & F_SWAPCACHE)) {
			set_outcome(o, V_INCONCLUSIVE, "the swap round trip did not happen: after memory.reclaim the "
				    "folio is %s, %s (%s)", folio_whole(pfn0, n) ? "whole" : "split or freed",
				    hf & F_SWAPCACHE ? "in the swap cache" : "not in the swap cache", moved);
			return -1;
		}
	}
	if (ps.swapped != p_n || kswapped != nkids * c_n) {
		set_outcome(o, V_INCONCLUSIVE, "the swap round trip did not happen: after memory.reclaim the parent "
			    "has %zu of %zu pages swapped, the children %zu of %zu (%s)", ps.swapped, p_n, kswapped,
			    nkids * c_n, moved);
		return -1;
	}
	read_pages(mem, 0, p_n);
	for (k = 0; k < nkids; k++)
		if (kid_do(&kids[k], 'R')) {
			set_outcome(o, V_ERROR, "the child did not read its pages back");
			return -1;
		}
	if (pagemap_of(0, mem, p_n, ppm)) {
		set_outcome(o, V_ERROR, "cannot read pagemap");
		return -1;
	}
	for (i = 0; i < p_n; i++) {
		if (!(ppm[i] & PM_PRESENT)) {
			set_outcome(o, V_INCONCLUSIVE, "the parent's page %zu is not present after the read-back", i);
			return -1;
		}
		if (large && (ppm[i] & PM_PFN_MASK) != pfn0 + i) {
			/* v6.1: ksm_might_need_to_copy() copies a tail page (its ->index is not the folio's) */
			set_outcome(o, V_INCONCLUSIVE, "the parent's page %zu was read back into a copy, not mapped "
				    "from the swap-cache folio (PFN %#llx, the folio's is %#llx)", i,
				    (unsigned long long)(ppm[i] & PM_PFN_MASK), (unsigned long long)(pfn0 + i));
			return -1;
		}
		if (!(head_flags(ppm[i] & PM_PFN_MASK) & F_SWAPCACHE)) {
			set_outcome(o, V_INCONCLUSIVE, "page %zu is not in the swap cache after the read-back "
				    "(kpageflags %#llx)", i, (unsigned long long)kpf(ppm[i] & PM_PFN_MASK));
			return -1;
		}
	}
	smaps_of(kids[0].pid, mem, mem + n * pagesize, &ss);
	if (!large && (ss.shared_dirty || ss.shared_clean != (long)(c_n * pagesize / 1024))) {
		set_outcome(o, V_INCONCLUSIVE, "the child's pages are not clean after the read-back (smaps "
			    "Shared_Clean %ld kB, Shared_Dirty %ld kB)", ss.shared_clean, ss.shared_dirty);
		return -1;
	}
	if (large)
		snprintf(setup, setup_len, "reclaim put the folio in the swap cache and replaced this process's %zu "
			 "and the child's %zu PTEs by swap entries, stopping at a locker child's mlocked last page "
			 "(%s); the locker gone, both read their pages back from the swap cache with read faults "
			 "(clean PTEs): the folio still in it, the child's smaps Shared_Clean %ld kB, Shared_Dirty "
			 "%ld kB, Private_Clean %ld kB, Private_Dirty %ld kB (PG_dirty: never written out); ", p_n,
			 c_n, moved, ss.shared_clean, ss.shared_dirty, ss.private_clean, ss.private_dirty);
	else
		snprintf(setup, setup_len, "all %zu pages swapped out of %s (%s) and read back, this process first: "
			 "every page in the swap cache, the child's smaps Shared_Clean %ld kB, Shared_Dirty %ld kB "
			 "(clean PTEs); ", n, nkids > 1 ? "all three processes" : "both processes", moved,
			 ss.shared_clean, ss.shared_dirty);
	return 0;
}

/*
 * One case: the region is one folio (a THP) or SMALL_PAGES small pages. The parent maps pages
 * [0, p_n) of it and advises [0, a_n); each child keeps [c_first, c_first + c_n).
 */
static void run_case(enum scen s, enum shape sh, size_t size, struct outcome *o)
{
	size_t n = sh == SMALL ? SMALL_PAGES : size / pagesize;
	size_t nf = sh == SMALL ? 1 : n;	/* pages of a folio */
	size_t len = n * pagesize, i;
	size_t p_n = n, a_n = n, c_first = 0, c_n = n;
	unsigned int seed = (unsigned int)test_nr * 7919 + 17;
	struct kid kids[MAX_KIDS] = { { .pid = -1 }, { .pid = -1 } }, locker = { .pid = -1 };
	int nkids = s == S_CLEAN2 ? 2 : scen_shared(s) ? 1 : 0, k;
	uint64_t pfn0 = 0, *ppm = NULL, *cpm = NULL;
	struct counters c0, c1, c2;
	struct smaps_sum ss_p, ss_k[MAX_KIDS];
	struct pmstate pst;
	struct tally t_adv, t_keep = { 0 }, t_kid[MAX_KIDS];
	char msg[240], setup[900] = "", moved_m[300], moved_r[300], a_txt[80], k_txt[80];
	bool large = sh != SMALL, split, pmd_mapped = sh == PMD_THP, clean = scen_clean(s);
	size_t csize = large ? size : pagesize;	/* the size the per-size counters are read for */
	long kid_lazy = 0;
	char *mem;

	if (sh == SMALL ? thp_select(0) : thp_select(size)) {
		set_outcome(o, V_ERROR, "cannot set the THP knobs for %zu kB", size / 1024);
		return;
	}
	mem = map_aligned(len, large ? size : pagesize);
	if (!mem) {
		set_outcome(o, V_ERROR, "mmap: %s", strerror(errno));
		return;
	}
	madvise(mem, len, large ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	fill(mem, n, seed);
	ppm = calloc(n, sizeof(uint64_t));
	cpm = calloc(n, sizeof(uint64_t));
	if (!ppm || !cpm) {
		set_outcome(o, V_ERROR, "out of memory");
		goto out;
	}
	if (large) {
		if (check_thp(mem, size, &pfn0, msg, sizeof(msg))) {
			set_outcome(o, V_SKIP, "did not get a THP populated (%s)", msg);
			goto out;
		}
		if (size == pmdsize) {
			struct smaps_sum ss;

			smaps_of(0, mem, mem + len, &ss);
			/*
			 * The clean cases start PMD-mapped too (v6.1 reclaim splits a THP that no PMD maps
			 * before it swaps); the swap round trip leaves them PTE-mapped.
			 */
			if ((sh == PMD_THP || clean) && ss.anon_huge < (long)(size / 1024)) {
				set_outcome(o, V_SKIP, "did not get a THP populated (not PMD-mapped: AnonHugePages %ld kB)",
					    ss.anon_huge);
				goto out;
			}
			if (sh == PTE_THP && !clean) {
				if (pte_map(mem, len)) {
					set_outcome(o, V_ERROR, "mprotect: %s", strerror(errno));
					goto out;
				}
				smaps_of(0, mem, mem + len, &ss);
				if (ss.anon_huge) {
					set_outcome(o, V_ERROR, "still PMD-mapped after a partial mprotect");
					goto out;
				}
			}
		}
		/* keep khugepaged away */
		madvise(mem, len, MADV_NOHUGEPAGE);
	} else {
		if (pagemap_of(0, mem, n, ppm)) {
			set_outcome(o, V_ERROR, "cannot read pagemap");
			goto out;
		}
		for (i = 0; i < n; i++)
			if (!(ppm[i] & PM_PRESENT) || (kpf(ppm[i] & PM_PFN_MASK) & (F_HEAD | F_TAIL))) {
				set_outcome(o, V_SKIP, "page %zu is not a small page", i);
				goto out;
			}
	}

	switch (s) {
	case S_EXCL_HALF:
		a_n = n / 2;
		break;
	case S_PART_FIRST:
	case S_PART_FIRST_CLEAN:
		c_n = n / 2;
		break;
	case S_PART_SECOND:
	case S_PART_SECOND_CLEAN:
		c_first = n / 2;
		c_n = n - n / 2;
		break;
	case S_DISJOINT:
	case S_DISJOINT_CLEAN:
		c_first = n / 2;
		c_n = n - n / 2;
		p_n = a_n = n / 2;
		break;
	default:
		break;
	}
	for (k = 0; k < nkids; k++)
		if (kid_start(&kids[k], mem, n, c_first, c_n, seed, msg, sizeof(msg))) {
			set_outcome(o, V_ERROR, "%s", msg);
			goto out;
		}
	if (clean && large && kid_start(&locker, mem, n, n - 1, 1, seed, msg, sizeof(msg))) {
		set_outcome(o, V_ERROR, "%s", msg);
		goto out;
	}
	if (p_n < n && munmap(mem + p_n * pagesize, (n - p_n) * pagesize)) {
		set_outcome(o, V_ERROR, "munmap: %s", strerror(errno));
		goto out;
	}
	if (clean && make_clean(mem, n, p_n, pfn0, csize, kids, nkids, &locker, ppm, setup, sizeof(setup), o))
		goto out;

	/* right before madvise: the state the scenario needs */
	if (pagemap_of(0, mem, p_n, ppm)) {
		set_outcome(o, V_ERROR, "cannot read pagemap");
		goto out;
	}
	for (i = 0; i < p_n; i++)
		if (!(ppm[i] & PM_PRESENT) || (large && (ppm[i] & PM_PFN_MASK) != pfn0 + i)) {
			set_outcome(o, V_INCONCLUSIVE, "page %zu is not mapped by the parent as the scenario needs", i);
			goto out;
		}
	if (large) {
		if (!folio_whole(pfn0, nf)) {
			set_outcome(o, V_INCONCLUSIVE, "the %zu kB folio was no longer one folio before madvise",
				    size / 1024);
			goto out;
		}
		if (!(kpf(pfn0) & F_LRU)) {
			set_outcome(o, V_INCONCLUSIVE, "the folio was not on the LRU before madvise");
			goto out;
		}
		if (clean && !(kpf(pfn0) & F_SWAPCACHE)) {
			set_outcome(o, V_INCONCLUSIVE, "the folio was not in the swap cache before madvise");
			goto out;
		}
		if (size == pmdsize) {
			struct smaps_sum ss;

			smaps_of(0, mem, mem + len, &ss);
			if (pmd_mapped ? ss.anon_huge < (long)(size / 1024) : ss.anon_huge != 0) {
				set_outcome(o, V_INCONCLUSIVE, "the parent does not map the folio by %s (AnonHugePages %ld kB)",
					    pmd_mapped ? "a PMD" : "PTEs", ss.anon_huge);
				goto out;
			}
		}
	}
	for (k = 0; k < nkids; k++) {
		if (pagemap_of(kids[k].pid, mem + c_first * pagesize, c_n, cpm)) {
			set_outcome(o, V_ERROR, "cannot read the child's pagemap");
			goto out;
		}
		for (i = 0; i < c_n; i++) {
			uint64_t want = large ? pfn0 + c_first + i : ppm[c_first + i] & PM_PFN_MASK;

			if (!(cpm[i] & PM_PRESENT) || (cpm[i] & PM_PFN_MASK) != want) {
				set_outcome(o, V_INCONCLUSIVE, "page %zu is not mapped by the child as the scenario "
					    "needs (%s)", c_first + i,
					    cpm[i] & PM_PRESENT ? "another page" : "not present");
				goto out;
			}
		}
	}

	counters_read(&c0, csize);
	if (madvise(mem, a_n * pagesize, MADV_FREE)) {
		if (errno == EINVAL)
			set_outcome(o, V_SKIP, "madvise(MADV_FREE) not supported");
		else
			set_outcome(o, V_ERROR, "madvise(MADV_FREE): %s", strerror(errno));
		goto out;
	}
	drain_lru();
	counters_read(&c1, csize);
	split = large && !folio_whole(pfn0, nf);
	smaps_of(0, mem, mem + len, &ss_p);
	pm_state(0, mem, a_n, &pst);
	for (k = 0; k < nkids; k++) {
		smaps_of(kids[k].pid, mem, mem + len, &ss_k[k]);
		kid_lazy += ss_k[k].lazyfree;
	}

	cg_reclaim(2);
	counters_read(&c2, csize);

	tally_pages(mem, 0, a_n, seed, &t_adv);
	if (a_n < p_n)
		tally_pages(mem, a_n, p_n - a_n, seed, &t_keep);
	for (k = 0; k < nkids; k++)
		if (kid_check(&kids[k], &t_kid[k])) {
			set_outcome(o, V_ERROR, "the child did not report its pages");
			goto out;
		}

	counters_delta(&c0, &c1, csize, moved_m, sizeof(moved_m));
	counters_delta(&c1, &c2, csize, moved_r, sizeof(moved_r));
	tally_text(&t_adv, a_n, a_txt, sizeof(a_txt));
	printf("# evidence: %s", setup);
	if (large)
		printf("%zu kB folio at PFN %#llx (one folio, on the LRU, %s-mapped%s) before madvise; after madvise: "
		       "folio %s, ", size / 1024, (unsigned long long)pfn0, pmd_mapped ? "PMD" : "PTE",
		       clean ? ", in the swap cache" : "", split ? "split" : "still whole");
	else
		printf("%zu small pages before madvise; after madvise: ", n);
	printf("LazyFree this process %ld kB", ss_p.lazyfree);
	for (k = 0; k < nkids; k++)
		printf(", %s %ld kB", kid_name(k, nkids), ss_k[k].lazyfree);
	printf(", %zu of %zu advised pages lazyfree in kpageflags; after memory.reclaim: this process's advised "
	       "pages %s", pst.lazyfree, a_n, a_txt);
	if (a_n < p_n) {
		tally_text(&t_keep, p_n - a_n, k_txt, sizeof(k_txt));
		printf(", its other pages %s", k_txt);
	}
	for (k = 0; k < nkids; k++) {
		tally_text(&t_kid[k], c_n, k_txt, sizeof(k_txt));
		printf(", %s %s", kid_name(k, nkids), k_txt);
	}
	printf("; madvise: %s; reclaim: %s", moved_m, moved_r);
	printf("\n");

	/* the verdict: data loss first */
	{
		size_t lost = 0, other = 0, total = 0, wl = 0;
		char who[160] = "";

		for (k = 0; k < nkids; k++) {
			if (t_kid[k].intact != c_n) {
				wl += snprintf(who + wl, sizeof(who) - wl, "%s%s", wl ? " and " : "", kid_name(k, nkids));
				lost += t_kid[k].zero;
				other += t_kid[k].other;
				total += c_n;
			}
		}
		if (a_n < p_n && t_keep.intact != p_n - a_n) {
			wl += snprintf(who + wl, sizeof(who) - wl, "%sthis process (pages it did not advise)",
				       wl ? " and " : "");
			lost += t_keep.zero;
			other += t_keep.other;
			total += p_n - a_n;
		}
		if (wl) {
			if (other)
				set_outcome(o, V_LOSS, "%s read zeros at %zu of %zu pages, other data at %zu", who, lost,
					    total, other);
			else
				set_outcome(o, V_LOSS, "%s read zeros at %zu of %zu pages", who, lost, total);
			goto out;
		}
	}
	if (t_adv.other) {
		set_outcome(o, V_INCONCLUSIVE, "%u of %zu advised pages read neither their data nor zeros",
			    t_adv.other, a_n);
		goto out;
	}
	if (scen_shared(s)) {
		if (split)
			set_outcome(o, V_SPLIT, "the other process keeps its %zu pages, the %zu kB folio is gone",
				    c_n * nkids, size / 1024);
		else if (kid_lazy)
			set_outcome(o, V_INCONCLUSIVE, "the kernel marked pages another process maps with clean PTEs "
				    "lazyfree (LazyFree %ld kB in the child's smaps), but reclaim did not discard them",
				    kid_lazy);
		else
			set_outcome(o, V_PASS, "");
	} else {
		if (t_adv.zero == a_n)
			set_outcome(o, V_PASS, "");
		else if (t_adv.zero)
			set_outcome(o, V_INCONCLUSIVE, "only %u of %zu advised pages freed", t_adv.zero, a_n);
		else if (ss_p.lazyfree || pst.lazyfree)
			set_outcome(o, V_INCONCLUSIVE, "marked lazyfree (LazyFree %ld kB) but reclaim did not free it",
				    ss_p.lazyfree);
		else
			set_outcome(o, V_MISSED, "%zu of %zu advised pages intact after reclaim, none marked lazyfree",
				    a_n, a_n);
	}
out:
	kid_stop(&locker);
	for (k = 0; k < MAX_KIDS; k++)
		kid_stop(&kids[k]);
	munmap(mem, len);
	free(ppm);
	free(cpm);
}

/* ---------------------------------------------------------------- main */

struct plan_entry {
	enum scen s;
	enum shape sh;
	size_t size;
};

static struct plan_entry plan[200];
static int nplan;

static void add(enum scen s, enum shape sh, size_t size)
{
	if (nplan < (int)(sizeof(plan) / sizeof(plan[0])))
		plan[nplan++] = (struct plan_entry){ s, sh, size };
}

static void make_plan(void)
{
	static const enum scen pte[] = { S_EXCL, S_EXCL_HALF, S_SHARED, S_PART_FIRST, S_PART_SECOND, S_DISJOINT,
					 S_CLEAN, S_PART_FIRST_CLEAN, S_PART_SECOND_CLEAN, S_DISJOINT_CLEAN };
	static const enum scen pmd[] = { S_EXCL, S_EXCL_HALF, S_SHARED, S_PART_FIRST, S_PART_SECOND };
	size_t sizes[25];
	int i, j, nsizes;

	add(S_EXCL, SMALL, pagesize);
	add(S_SHARED, SMALL, pagesize);
	add(S_CLEAN, SMALL, pagesize);
	add(S_CLEAN2, SMALL, pagesize);
	if (!have_thp)
		return;
	/* the PMD size first, then every other mTHP size, ascending */
	nsizes = thp_sizes(sizes);
	for (i = 0; i < (int)(sizeof(pmd) / sizeof(pmd[0])); i++)
		add(pmd[i], PMD_THP, pmdsize);
	for (j = 0; j < nsizes; j++)
		for (i = 0; i < (int)(sizeof(pte) / sizeof(pte[0])); i++)
			add(pte[i], PTE_THP, sizes[j]);
}

int main(void)
{
	struct outcome o;
	char name[200], msg[240];
	long swap_kb;
	struct timespec t_end;
	int i;

	probe_start();
	if (geteuid() != 0) {
		printf("1..0 # SKIP Please run this test as root (PFNs in pagemap, /proc/kpageflags, cgroups, sysfs knobs)\n");
		return 4;
	}
	pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
	kpageflags_fd = open("/proc/kpageflags", O_RDONLY);
	if (pagemap_fd < 0 || kpageflags_fd < 0) {
		printf("1..0 # SKIP cannot open /proc/self/pagemap or /proc/kpageflags (CONFIG_PROC_PAGE_MONITOR?)\n");
		return 4;
	}
	swap_kb = swap_total_kb();
	if (swap_kb <= 0) {
		printf("1..0 # SKIP no swap: reclaim cannot swap the shared pages out and back\n");
		return 4;
	}
	drain_page = mmap(NULL, pagesize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (drain_page == MAP_FAILED) {
		printf("1..0 # SKIP mmap failed: %s\n", strerror(errno));
		return 4;
	}

	atexit(cleanup);
	catch_signals(on_signal);

	if (cg_setup(msg, sizeof(msg))) {
		printf("1..0 # SKIP %s\n", msg);
		cleanup();
		return 4;
	}

	/*
	 * One CPU (pin_cpu()): folios faulted on another CPU could still sit in that one's LRU
	 * batches and be neither on the LRU (folio_mark_lazyfree() skips them) nor lazyfree when
	 * smaps is read.
	 */
	pin_cpu();
	detect_thp();
	make_plan();
	printf("1..%d\n", nplan);
	printf("# page size %zu, PMD THP size %zu kB, %d THP sizes with their own knob, swap %ld kB, cgroup %s "
	       "(cgroup2 %s, memory controller %s)\n", pagesize, have_thp ? pmdsize / 1024 : 0, nthp, swap_kb,
	       CG_DIR, cg_mounted ? "mounted by the probe" : "already mounted",
	       cg_enabled_memory ? "enabled by the probe" : "already enabled");

	for (i = 0; i < nplan; i++) {
		struct plan_entry *p = &plan[i];

		memset(&o, 0, sizeof(o));
		snprintf(name, sizeof(name), "MADV_FREE %s (%zu kB)", scen_text(p->s, p->sh), p->size / 1024);
		tap_run(name);
		run_case(p->s, p->sh, p->size, &o);
		end_case(name, &o);
	}
	knobs_restore();
	cg_teardown();
	if (!access(CG_DIR, F_OK))
		printf("# could not remove " CG_DIR "\n");

	clock_gettime(CLOCK_MONOTONIC, &t_end);
	printf("# probe took %.1f s (%.1f s of it in memory.reclaim)\n", elapsed_ms(&t_start, &t_end) / 1000,
	       reclaim_ms_total / 1000.0);
	return tap_totals(nplan);
}
