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
 * processes' clean mappings too: they read zeros. That is DATA LOSS. (A
 * kernel that frees the swap of a folio read back once no swap entry refers
 * to it, as 7.x does at once for zram, leaves it out of the swap cache and
 * PG_dirty: the sharing check is asked all the same.)
 *
 * For a large folio the swap-out must stop halfway (a folio written out is
 * freed, and swap-in of a shared entry gives small folios): a locker child
 * maps only the folio's last page and mlock2()s it (MLOCK_ONFAULT), which
 * does not mlock the folio. Reclaim puts the folio in the swap cache,
 * replaces the PTEs of the VMAs the rmap walk meets first (the parent's, the
 * child's) by swap entries and stops at the locker's locked VMA. The locker
 * exits, and both processes read the pages back from the swap cache: one
 * large folio in the swap cache, mapped with clean PTEs by the child.
 *
 * Every case (a row of `scenarios` below): fill the pages with per-page data
 * before fork(), set the state up (children keep their part mapped and touch
 * nothing), check it again, madvise(MADV_FREE) from the parent only, read
 * LazyFree: of every process's VMA from /proc/PID/smaps and the folio's flags
 * from /proc/kpageflags without touching the pages, reclaim, then have every
 * process check its pages: its data, zeros, or other. Verdicts: correct;
 * missed (an exclusive folio not freed); split (a shared folio split); DATA
 * LOSS (a process other than the caller, or the caller's pages it did not
 * advise, lost data); inconclusive (the state was not what the scenario
 * needs).
 *
 * Prints kselftest TAP 13 with a verdict token on every result line that is
 * not a plain `ok` (see ../../probe-common/probe_common.h, which it shares
 * with the other studies' probes), exits with kselftest's KSFT_* codes, must
 * be run as root with swap enabled and cgroup v2 with the memory controller
 * (it mounts cgroup2 on /sys/fs/cgroup if nothing is there).
 *
 * Build: gcc -O2 -Wall -Wextra -Werror -o probe probe.c
 */
#define _GNU_SOURCE
/* the /proc/vmstat counters that tell what the kernel did */
#define PROBE_VMSTAT "pglazyfree", "pglazyfreed", "thp_split_page", "thp_split_page_failed", \
		     "pswpout", "pswpin", "thp_swpout", "thp_swpout_fallback"
#define VM_PGLAZYFREE	0	/* pglazyfree in PROBE_VMSTAT */
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

/* never touched: MADV_FREE on it only drains this CPU's LRU batches */
static char *drain_page;
/* the kernel tracks soft-dirty bits (CONFIG_MEM_SOFT_DIRTY): clear PTEs can be proven */
static bool soft_dirty;

/* what a verdict means, in a result line */
static const char *const verdict_text[NR_VERDICTS] = {
	[V_MISSED] = "treated exclusive as shared (not freed)",
	[V_SPLIT] = "split a shared folio",
	[V_LOSS] = "DATA LOSS",
};

/* ---------------------------------------------------------------- cgroup */

static bool cg_made, cg_mounted, cg_enabled_memory;
static char cg_home[640];	/* the cgroup.procs the probe came from */
static char cg_pid[24];

/* cgroup2 on CG_ROOT with the memory controller on for its children; 0, or -1 (why in msg) */
static int cg_memory(char *msg, size_t len)
{
	struct statfs sf;
	char buf[256];

	if (statfs(CG_ROOT, &sf) || sf.f_type != CGROUP2_SUPER_MAGIC) {
		if (mount("none", CG_ROOT, "cgroup2", 0, NULL)) {
			snprintf(msg, len, "no cgroup v2 at " CG_ROOT " and mounting it failed: %s",
				 strerror(errno));
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
			snprintf(msg, len, "cannot enable the memory controller in " CG_ROOT
				 "/cgroup.subtree_control");
			return -1;
		}
		cg_enabled_memory = true;
	}
	return 0;
}

/* where the probe is now ("0::/path" in /proc/self/cgroup): its cgroup.procs, into cg_home */
static void cg_remember_home(void)
{
	char buf[256], path[320], *p;
	FILE *f = fopen("/proc/self/cgroup", "r");

	snprintf(cg_home, sizeof(cg_home), CG_ROOT "/cgroup.procs");
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
}

/* the probe moved into its own cgroup CG_DIR; 0, or -1 (why in msg) */
static int cg_setup(char *msg, size_t len)
{
	if (cg_memory(msg, len))
		return -1;
	cg_remember_home();
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

/* at exit and on a signal: the children killed, the knobs and the cgroup put back */
static void cleanup(void)
{
	kill_kids();
	knobs_restore();
	cg_teardown();
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
		write_text(CG_DIR "/memory.reclaim", "1G");	/* EAGAIN: less (expected) */
	clock_gettime(CLOCK_MONOTONIC, &b);
	reclaim_ms_total += (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
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
		/* a VMA's header: "start-end perms offset dev inode path"; no field parses so */
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

/* pages of a range: present, swapped; present in a lazyfree folio (anon, not swapbacked), in the
 * swap cache */
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

/* in a child: serve the parent's commands on its pages [first, first + n) until 'Q' or EOF */
static void kid_serve(int cmd, int rsp, char *mem, size_t first, size_t n, unsigned int seed)
{
	struct tally t;
	char ch;

	for (;;) {
		ssize_t r = read(cmd, &ch, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r != 1 || ch == 'Q')
			_exit(0);
		if (ch == 'R') {
			read_pages(mem, first, n);
			ch = 'k';
			if (write(rsp, &ch, 1) != 1)
				_exit(1);
		} else if (ch == 'L') {
			ch = syscall(__NR_mlock2, mem + first * pagesize, n * pagesize,
				     MLOCK_ONFAULT) ? 'e' : 'k';
			if (write(rsp, &ch, 1) != 1)
				_exit(1);
		} else if (ch == 'C') {
			tally_pages(mem, first, n, seed, &t);
			if (write(rsp, &t, sizeof(t)) != sizeof(t))
				_exit(1);
		}
	}
}

/* in a child: keep pages [first, first + n) of [mem, mem + npages pages) mapped, then serve */
static void kid_main(int cmd, int rsp, char *mem, size_t npages, size_t first, size_t n,
		     unsigned int seed)
{
	char ch = 'r';

	if (first && munmap(mem, first * pagesize))
		ch = 'u';
	if (first + n < npages &&
	    munmap(mem + (first + n) * pagesize, (npages - first - n) * pagesize))
		ch = 'u';
	if (write(rsp, &ch, 1) != 1)
		_exit(1);
	kid_serve(cmd, rsp, mem, first, n, seed);
}

/*
 * fork a child that keeps pages [first, first + n) of the region [mem, mem + npages pages)
 * mapped, unmaps the rest, says so, and then serves commands: 'R' read-fault its pages, 'L'
 * mlock2(MLOCK_ONFAULT) them, 'C' check them (a struct tally back), 'Q' or EOF exit. 0 on
 * success.
 */
static int kid_start(struct kid *k, char *mem, size_t npages, size_t first, size_t n,
		     unsigned int seed, char *msg, size_t len)
{
	int cmd[2], rsp[2], i;
	char ch;

	k->first = first;
	k->n = n;
	k->pid = fork_piped(cmd, rsp, msg, len);
	if (k->pid < 0)
		return -1;
	if (k->pid == 0) {
		close(cmd[1]);
		close(rsp[0]);
		kid_main(cmd[0], rsp[1], mem, npages, first, n, seed);
	}
	for (i = 0; i <= MAX_KIDS; i++)
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

/* a part of the region: all of it, or a half */
enum half { ALL, FIRST, SECOND };

struct scenario {
	const char *text;
	enum shape shape;
	int kids;		/* fork()ed children that share it */
	enum half child_keeps;	/* what each child keeps mapped */
	enum half parent_keeps;	/* what the parent keeps mapped (and advises) */
	enum half advised;	/* what the parent advises of what it keeps */
	bool clean;		/* the children's PTEs made clean: swapped out and read back */
};

static const struct scenario scenarios[] = {
	{ .text = "exclusive small pages", .shape = SMALL },
	{ .text = "small pages shared with a child, plain fork", .shape = SMALL, .kids = 1 },
	{ .text = "small pages shared with a child, PTEs clean", .shape = SMALL, .kids = 1,
	  .clean = true },
	{ .text = "small pages shared with two children, PTEs clean", .shape = SMALL, .kids = 2,
	  .clean = true },
	{ .text = "exclusive PMD-mapped THP", .shape = PMD_THP },
	{ .text = "exclusive PMD-mapped THP, first half advised", .shape = PMD_THP,
	  .advised = FIRST },
	{ .text = "PMD-mapped THP shared with a child, plain fork", .shape = PMD_THP, .kids = 1 },
	{ .text = "PMD-mapped THP partly shared, child keeps first half", .shape = PMD_THP,
	  .kids = 1, .child_keeps = FIRST },
	{ .text = "PMD-mapped THP partly shared, child keeps second half", .shape = PMD_THP,
	  .kids = 1, .child_keeps = SECOND },
	{ .text = "exclusive PTE-mapped THP", .shape = PTE_THP },
	{ .text = "exclusive PTE-mapped THP, first half advised", .shape = PTE_THP,
	  .advised = FIRST },
	{ .text = "PTE-mapped THP shared with a child, plain fork", .shape = PTE_THP, .kids = 1 },
	{ .text = "PTE-mapped THP partly shared, child keeps first half", .shape = PTE_THP,
	  .kids = 1, .child_keeps = FIRST },
	{ .text = "PTE-mapped THP partly shared, child keeps second half", .shape = PTE_THP,
	  .kids = 1, .child_keeps = SECOND },
	{ .text = "THP mapped in disjoint halves, parent first, child second", .shape = PTE_THP,
	  .kids = 1, .child_keeps = SECOND, .parent_keeps = FIRST },
	{ .text = "PTE-mapped THP shared with a child, PTEs clean", .shape = PTE_THP, .kids = 1,
	  .clean = true },
	{ .text = "PTE-mapped THP partly shared, child keeps first half, PTEs clean",
	  .shape = PTE_THP, .kids = 1, .child_keeps = FIRST, .clean = true },
	{ .text = "PTE-mapped THP partly shared, child keeps second half, PTEs clean",
	  .shape = PTE_THP, .kids = 1, .child_keeps = SECOND, .clean = true },
	{ .text = "THP mapped in disjoint halves, parent first, child second, PTEs clean",
	  .shape = PTE_THP, .kids = 1, .child_keeps = SECOND, .parent_keeps = FIRST,
	  .clean = true },
};

#define NR_SCENARIOS (int)(sizeof(scenarios) / sizeof(scenarios[0]))

/* [*first, *first + *n) of n pages: the part h of them */
static void part(enum half h, size_t npages, size_t *first, size_t *n)
{
	*first = h == SECOND ? npages / 2 : 0;
	*n = h == ALL ? npages : h == FIRST ? npages / 2 : npages - npages / 2;
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
		snprintf(buf, len, "%u intact, %u zero, %u other of %zu", t->intact, t->zero,
			 t->other, n);
}

static const char *kid_name(int k, int nkids)
{
	return nkids > 1 ? (k ? "the second child" : "the first child") : "the child";
}

/*
 * One case: the region is one folio (a THP) or SMALL_PAGES small pages. The parent maps pages
 * [0, p_n) of it and advises [0, a_n); each child keeps [c_first, c_first + c_n).
 */
struct lcase {
	const struct scenario *s;
	size_t size, n, nf, len, csize;	/* n pages, nf a folio; csize: the counters' size */
	size_t p_n, a_n, c_first, c_n;
	unsigned int seed;
	bool large, clean;
	bool swap_freed;	/* the read-back freed its swap: out of the swap cache, PG_dirty */
	char *mem;
	uint64_t pfn0, *ppm, *cpm;	/* the folio's first PFN; pagemaps of the parent, a child */
	struct kid kids[MAX_KIDS], locker;
	int nkids;
	char setup[1200];		/* how the children's PTEs were made clean */
	struct counters c0, c1, c2;	/* before madvise, after it, after reclaim */
	struct smaps_sum ss_p, ss_k[MAX_KIDS];
	struct pmstate pst;		/* the advised pages after madvise */
	struct tally t_adv, t_keep, t_kid[MAX_KIDS];	/* after reclaim */
	bool split;
	long kid_lazy;			/* LazyFree kB in the children's smaps after madvise */
};

static void case_init(struct lcase *c, const struct scenario *s, size_t size)
{
	size_t first;

	memset(c, 0, sizeof(*c));
	c->s = s;
	c->size = size;
	c->large = s->shape != SMALL;
	c->clean = s->clean;
	c->n = c->large ? size / pagesize : SMALL_PAGES;
	c->nf = c->large ? c->n : 1;
	c->len = c->n * pagesize;
	c->csize = c->large ? size : pagesize;
	c->seed = (unsigned int)test_nr * 7919 + 17;
	c->nkids = s->kids;
	part(s->parent_keeps, c->n, &first, &c->p_n);
	part(s->advised, c->p_n, &first, &c->a_n);
	part(s->child_keeps, c->n, &c->c_first, &c->c_n);
	c->kids[0].pid = c->kids[1].pid = c->locker.pid = -1;
}

/* a THP populated, PMD- or PTE-mapped as the scenario needs; 0, or -1 (o says why) */
static int start_large(struct lcase *c, struct outcome *o)
{
	struct smaps_sum ss;
	char msg[240];

	if (check_thp(c->mem, c->size, &c->pfn0, msg, sizeof(msg))) {
		set_outcome(o, V_SKIP, "did not get a THP populated (%s)", msg);
		return -1;
	}
	if (c->size != pmdsize)
		return 0;
	smaps_of(0, c->mem, c->mem + c->len, &ss);
	/*
	 * The clean cases start PMD-mapped too (v6.1 reclaim splits a THP that no PMD maps before
	 * it swaps); the swap round trip leaves them PTE-mapped.
	 */
	if ((c->s->shape == PMD_THP || c->clean) && ss.anon_huge < (long)(c->size / 1024)) {
		set_outcome(o, V_SKIP, "did not get a THP populated (not PMD-mapped: AnonHugePages "
			    "%ld kB)", ss.anon_huge);
		return -1;
	}
	if (c->s->shape == PTE_THP && !c->clean) {
		if (pte_map(c->mem, c->len)) {
			set_outcome(o, V_ERROR, "mprotect: %s", strerror(errno));
			return -1;
		}
		smaps_of(0, c->mem, c->mem + c->len, &ss);
		if (ss.anon_huge) {
			set_outcome(o, V_ERROR, "still PMD-mapped after a partial mprotect");
			return -1;
		}
	}
	return 0;
}

/* every page a small page; 0, or -1 (o says why) */
static int start_small(struct lcase *c, struct outcome *o)
{
	size_t i;

	if (pagemap_of(0, c->mem, c->n, c->ppm)) {
		set_outcome(o, V_ERROR, "cannot read pagemap");
		return -1;
	}
	for (i = 0; i < c->n; i++)
		if (!(c->ppm[i] & PM_PRESENT) ||
		    (kpf(c->ppm[i] & PM_PFN_MASK) & (F_HEAD | F_TAIL))) {
			set_outcome(o, V_SKIP, "page %zu is not a small page", i);
			return -1;
		}
	return 0;
}

/* the region mapped, filled and checked; 0, or -1 (o says why) */
static int case_map(struct lcase *c, struct outcome *o)
{
	if (c->large ? thp_select(c->size) : thp_select(0)) {
		set_outcome(o, V_ERROR, "cannot set the THP knobs for %zu kB", c->size / 1024);
		return -1;
	}
	c->mem = map_aligned(c->len, c->large ? c->size : pagesize);
	if (!c->mem) {
		set_outcome(o, V_ERROR, "mmap: %s", strerror(errno));
		return -1;
	}
	madvise(c->mem, c->len, c->large ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	fill(c->mem, c->n, c->seed);
	c->ppm = calloc(c->n, sizeof(uint64_t));
	c->cpm = calloc(c->n, sizeof(uint64_t));
	if (!c->ppm || !c->cpm) {
		set_outcome(o, V_ERROR, "out of memory");
		return -1;
	}
	if (!c->large)
		return start_small(c, o);
	if (start_large(c, o))
		return -1;
	madvise(c->mem, c->len, MADV_NOHUGEPAGE);	/* keep khugepaged away */
	return 0;
}

/* the children (and for a large clean case the locker) started, the parent's part kept */
static int case_share(struct lcase *c, struct outcome *o)
{
	char msg[240];
	int k;

	for (k = 0; k < c->nkids; k++)
		if (kid_start(&c->kids[k], c->mem, c->n, c->c_first, c->c_n, c->seed, msg,
			      sizeof(msg))) {
			set_outcome(o, V_ERROR, "%s", msg);
			return -1;
		}
	if (c->clean && c->large &&
	    kid_start(&c->locker, c->mem, c->n, c->n - 1, 1, c->seed, msg, sizeof(msg))) {
		set_outcome(o, V_ERROR, "%s", msg);
		return -1;
	}
	if (c->p_n < c->n && munmap(c->mem + c->p_n * pagesize, (c->n - c->p_n) * pagesize)) {
		set_outcome(o, V_ERROR, "munmap: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- clean PTEs */

/*
 * The children's PTEs made clean (the parent's own do not matter: MADV_FREE cleans them), then
 * checked: every process maps the folio (or each small page) again, from the swap cache.
 *
 * Small pages: swapped out of every process, then read back, the parent first: the swap count
 * is above 1, so do_swap_page() goes through swapin_readahead() and the swap cache instead of
 * zram's SWP_SYNCHRONOUS_IO shortcut, and a read fault maps the folio with a clean PTE.
 *
 * Where the kernel frees a folio's swap as soon as no swap entry refers to it (7.x's
 * do_swap_page() always tries for a SWP_SYNCHRONOUS_IO device: should_try_to_free_swap()), the
 * last read-back takes the folio out of the swap cache and sets PG_dirty (folio_free_swap()):
 * MADV_FREE still asks the sharing check (swap cache or PG_dirty), and the children's clean
 * PTEs are proven by soft-dirty bits for small pages too, since smaps counts a PG_dirty folio's
 * pages dirty.
 *
 * A large folio: written out it would be freed, and read back from swap it would come back as
 * small folios (a shared swap entry is never read into a large folio). So a locker child that
 * maps only the folio's last page mlocks it (MLOCK_ONFAULT: a folio not within the VMA is not
 * mlocked, it stays on the LRU). Reclaim adds the folio to the swap cache (dirty), replaces the
 * PTEs of every VMA the rmap walk meets before the locker's (which has the highest offset into
 * the folio) by swap entries, and stops at the locked VMA: the folio stays in the swap cache,
 * never written out. The locker exits, the others read their pages back from the swap cache.
 */

/* the swap-out half of the round trip; 0, or -1 (o says why); what moved in `moved` */
static int clean_swap_out(struct lcase *c, char *moved, size_t len, struct outcome *o)
{
	struct counters cr0, cr1;
	struct pmstate ps, kst;
	size_t kswapped = 0;
	uint64_t hf;
	int k;

	if (c->large && kid_do(&c->locker, 'L')) {
		set_outcome(o, V_ERROR, "mlock2(MLOCK_ONFAULT) in the locker child failed");
		return -1;
	}
	counters_read(&cr0, c->csize);
	cg_reclaim(1);
	counters_read(&cr1, c->csize);
	counters_delta(&cr0, &cr1, c->csize, moved, len);
	if (c->large)
		kid_stop(&c->locker);
	pm_state(0, c->mem, c->p_n, &ps);
	for (k = 0; k < c->nkids; k++) {
		pm_state(c->kids[k].pid, c->mem + c->c_first * pagesize, c->c_n, &kst);
		kswapped += kst.swapped;
	}
	hf = kpf(c->pfn0);
	if (c->large && (!folio_whole(c->pfn0, c->n) || !(hf & F_SWAPCACHE))) {
		set_outcome(o, V_INCONCLUSIVE, "the swap round trip did not happen: after "
			    "memory.reclaim the folio is %s, %s (%s)",
			    folio_whole(c->pfn0, c->n) ? "whole" : "split or freed",
			    hf & F_SWAPCACHE ? "in the swap cache" : "not in the swap cache",
			    moved);
		return -1;
	}
	if (ps.swapped != c->p_n || kswapped != c->nkids * c->c_n) {
		set_outcome(o, V_INCONCLUSIVE, "the swap round trip did not happen: after "
			    "memory.reclaim the parent has %zu of %zu pages swapped, the children "
			    "%zu of %zu (%s)", ps.swapped, c->p_n, kswapped, c->nkids * c->c_n,
			    moved);
		return -1;
	}
	return 0;
}

/*
 * Page i (PFN pfn) after the read-back: in the swap cache, or out of it and PG_dirty. A kernel may
 * free the swap of a folio it swaps in once no swap entry refers to it any more (folio_free_swap()
 * deletes it from the swap cache and sets PG_dirty); 7.x's do_swap_page() always tries for a
 * SWP_SYNCHRONOUS_IO device such as zram, so the last process to read back takes it out. Either
 * way MADV_FREE must ask the sharing check before it clears PG_dirty. 0, or -1 (o says why not).
 */
static int swap_state(struct lcase *c, size_t i, uint64_t pfn, struct outcome *o)
{
	uint64_t hf = head_flags(pfn);

	if (hf & F_SWAPCACHE)
		return 0;
	if (!(hf & F_DIRTY)) {
		set_outcome(o, V_INCONCLUSIVE, "page %zu is neither in the swap cache nor PG_dirty "
			    "after the read-back (kpageflags %#llx): MADV_FREE would not ask the "
			    "sharing check", i, (unsigned long long)kpf(pfn));
		return -1;
	}
	c->swap_freed = true;
	return 0;
}

/*
 * The child's PTEs proven clean by soft-dirty bits (not by smaps): a large folio, or small pages
 * whose folio is PG_dirty (smaps counts a PG_dirty folio's pages dirty whatever the PTE says)
 */
static bool soft_dirty_proof(const struct lcase *c)
{
	return c->large || c->swap_freed;
}

/* the read-back half: every process read-faults its pages; 0, or -1 (o says why) */
static int clean_read_back(struct lcase *c, struct outcome *o)
{
	size_t i;
	int k;

	read_pages(c->mem, 0, c->p_n);
	for (k = 0; k < c->nkids; k++)
		if (kid_do(&c->kids[k], 'R')) {
			set_outcome(o, V_ERROR, "the child did not read its pages back");
			return -1;
		}
	if (pagemap_of(0, c->mem, c->p_n, c->ppm)) {
		set_outcome(o, V_ERROR, "cannot read pagemap");
		return -1;
	}
	for (i = 0; i < c->p_n; i++) {
		uint64_t pfn = c->ppm[i] & PM_PFN_MASK;

		if (!(c->ppm[i] & PM_PRESENT)) {
			set_outcome(o, V_INCONCLUSIVE, "the parent's page %zu is not present "
				    "after the read-back", i);
			return -1;
		}
		if (c->large && pfn != c->pfn0 + i) {
			/* v6.1: ksm_might_need_to_copy() copies a tail page (its ->index is not the
			 * folio's) */
			set_outcome(o, V_INCONCLUSIVE, "the parent's page %zu was read back into "
				    "a copy, not mapped from the swap-cache folio (PFN %#llx, the "
				    "folio's is %#llx)", i, (unsigned long long)pfn,
				    (unsigned long long)(c->pfn0 + i));
			return -1;
		}
		if (swap_state(c, i, pfn, o))
			return -1;
	}
	return 0;
}

/* how the read-back left the folio, for the evidence */
static const char *swap_text(const struct lcase *c)
{
	return c->swap_freed ? "the last read-back freed its swap: out of the swap cache, PG_dirty "
			       "(folio_free_swap(), at once for zram's SWP_SYNCHRONOUS_IO)" :
			       "the folio still in the swap cache";
}

/* the children's smaps after the read-back, into the evidence; 0, or -1 (o says why) */
static int clean_evidence(struct lcase *c, const char *moved, struct outcome *o)
{
	struct smaps_sum ss;

	smaps_of(c->kids[0].pid, c->mem, c->mem + c->len, &ss);
	if (!soft_dirty_proof(c) &&
	    (ss.shared_dirty || ss.shared_clean != (long)(c->c_n * pagesize / 1024))) {
		set_outcome(o, V_INCONCLUSIVE, "the child's pages are not clean after the "
			    "read-back (smaps Shared_Clean %ld kB, Shared_Dirty %ld kB)",
			    ss.shared_clean, ss.shared_dirty);
		return -1;
	}
	if (c->large)
		snprintf(c->setup, sizeof(c->setup), "reclaim put the folio in the swap cache and "
			 "replaced this process's %zu and the child's %zu PTEs by swap entries, "
			 "stopping at a locker child's mlocked last page (%s); the locker gone, "
			 "both read their pages back from the swap cache with read faults, the "
			 "child's soft-dirty bits cleared then and still clear right before "
			 "madvise (clean PTEs, nothing written since): %s, the child's smaps "
			 "Shared_Clean %ld kB, Shared_Dirty %ld kB, Private_Clean %ld kB, "
			 "Private_Dirty %ld kB (PG_dirty: never written out; shared or private per "
			 "folio, not per page, under CONFIG_NO_PAGE_MAPCOUNT); ", c->p_n, c->c_n,
			 moved, swap_text(c), ss.shared_clean, ss.shared_dirty, ss.private_clean,
			 ss.private_dirty);
	else if (c->swap_freed)
		snprintf(c->setup, sizeof(c->setup), "all %zu pages swapped out of %s (%s) and "
			 "read back, this process first: %s; the children's soft-dirty bits "
			 "cleared then and still clear right before madvise (clean PTEs; smaps "
			 "counts a PG_dirty folio dirty: the child's Shared_Clean %ld kB, "
			 "Shared_Dirty %ld kB); ", c->n,
			 c->nkids > 1 ? "all three processes" : "both processes", moved,
			 swap_text(c), ss.shared_clean, ss.shared_dirty);
	else
		snprintf(c->setup, sizeof(c->setup), "all %zu pages swapped out of %s (%s) and "
			 "read back, this process first: every page in the swap cache, the "
			 "child's smaps Shared_Clean %ld kB, Shared_Dirty %ld kB (clean PTEs); ",
			 c->n, c->nkids > 1 ? "all three processes" : "both processes", moved,
			 ss.shared_clean, ss.shared_dirty);
	return 0;
}

/*
 * Write "4" to clear_refs of process pid (0: this one): its soft-dirty bits cleared, its PTEs
 * write-protected, so that the next write to a page faults and sets the page's bit again (the
 * PTE's dirty bit is kept as it was); 0 on success.
 */
static int soft_dirty_clear(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/clear_refs", pid ? (int)pid : (int)getpid());
	return write_text(path, "4");
}

/* Does the kernel track soft-dirty bits? A page written after clear_refs must show one. */
static bool soft_dirty_works(void)
{
	char *page = mmap(NULL, pagesize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			  -1, 0);
	uint64_t before = 0, after = 0;

	if (page == MAP_FAILED)
		return false;
	page[0] = 1;
	if (soft_dirty_clear(0) || pagemap_read(page, 1, &before))
		before = PM_SOFT_DIRTY;
	page[0] = 2;
	if (pagemap_read(page, 1, &after))
		after = 0;
	munmap(page, pagesize);
	return !(before & PM_SOFT_DIRTY) && (after & PM_SOFT_DIRTY);
}

/*
 * A PG_dirty folio's clean PTEs (a large folio, or small pages whose swap the read-back freed)
 * proven by construction (smaps cannot tell: the folio is PG_dirty,
 * so Shared_Dirty counts it whatever the PTEs say, and no /proc file shows a PTE's dirty bit):
 * the children's PTEs were installed by read faults after the swap-out, their soft-dirty bits
 * are cleared now, and kid_as_needed() checks them still clear right before madvise: nothing
 * has written the pages since. 0, or -1 (o says why the proof is impossible).
 */
static int clean_prove(struct lcase *c, struct outcome *o)
{
	int k;

	if (!soft_dirty_proof(c))
		return 0;
	if (!soft_dirty) {
		set_outcome(o, V_INCONCLUSIVE, "cannot prove the child's PTEs clean: the kernel "
			    "does not track soft-dirty bits (CONFIG_MEM_SOFT_DIRTY)");
		return -1;
	}
	for (k = 0; k < c->nkids; k++)
		if (soft_dirty_clear(c->kids[k].pid)) {
			set_outcome(o, V_ERROR, "cannot write /proc/%d/clear_refs",
				    (int)c->kids[k].pid);
			return -1;
		}
	return 0;
}

static int make_clean(struct lcase *c, struct outcome *o)
{
	char moved[300];

	if (clean_swap_out(c, moved, sizeof(moved), o) || clean_read_back(c, o) ||
	    clean_prove(c, o))
		return -1;
	return clean_evidence(c, moved, o);
}

/* ---------------------------------------------------------------- the state before madvise */

/* the folio whole, on the LRU (in the swap cache), PMD- or PTE-mapped; 0, or -1 (o says why) */
static int folio_as_needed(const struct lcase *c, struct outcome *o)
{
	bool pmd_mapped = c->s->shape == PMD_THP;
	struct smaps_sum ss;

	if (!folio_whole(c->pfn0, c->nf)) {
		set_outcome(o, V_INCONCLUSIVE, "the %zu kB folio was no longer one folio before "
			    "madvise", c->size / 1024);
		return -1;
	}
	if (!(kpf(c->pfn0) & F_LRU)) {
		set_outcome(o, V_INCONCLUSIVE, "the folio was not on the LRU before madvise");
		return -1;
	}
	if (c->clean && !(kpf(c->pfn0) & (c->swap_freed ? F_DIRTY : F_SWAPCACHE))) {
		set_outcome(o, V_INCONCLUSIVE, "the folio was not %s before madvise",
			    c->swap_freed ? "PG_dirty" : "in the swap cache");
		return -1;
	}
	if (c->size != pmdsize)
		return 0;
	smaps_of(0, c->mem, c->mem + c->len, &ss);
	if (pmd_mapped ? ss.anon_huge < (long)(c->size / 1024) : ss.anon_huge != 0) {
		set_outcome(o, V_INCONCLUSIVE, "the parent does not map the folio by %s "
			    "(AnonHugePages %ld kB)", pmd_mapped ? "a PMD" : "PTEs", ss.anon_huge);
		return -1;
	}
	return 0;
}

/* child k maps the PFNs it should; 0, or -1 (o says why) */
static int kid_as_needed(struct lcase *c, int k, struct outcome *o)
{
	const char *what;
	uint64_t want;
	size_t i;

	if (pagemap_of(c->kids[k].pid, c->mem + c->c_first * pagesize, c->c_n, c->cpm)) {
		set_outcome(o, V_ERROR, "cannot read the child's pagemap");
		return -1;
	}
	for (i = 0; i < c->c_n; i++) {
		want = c->large ? c->pfn0 + c->c_first + i : c->ppm[c->c_first + i] & PM_PFN_MASK;
		if (!(c->cpm[i] & PM_PRESENT) || (c->cpm[i] & PM_PFN_MASK) != want) {
			what = c->cpm[i] & PM_PRESENT ? "another page" : "not present";
			set_outcome(o, V_INCONCLUSIVE, "page %zu is not mapped by the child as the "
				    "scenario needs (%s)", c->c_first + i, what);
			return -1;
		}
		if (c->clean && soft_dirty_proof(c) && (c->cpm[i] & PM_SOFT_DIRTY)) {
			set_outcome(o, V_INCONCLUSIVE, "the child's page %zu is soft-dirty before "
				    "madvise: written since the read-back, its PTE may be dirty",
				    c->c_first + i);
			return -1;
		}
	}
	return 0;
}

/* right before madvise: the state the scenario needs; 0, or -1 (o says why not) */
static int case_check(struct lcase *c, struct outcome *o)
{
	size_t i;
	int k;

	if (pagemap_of(0, c->mem, c->p_n, c->ppm)) {
		set_outcome(o, V_ERROR, "cannot read pagemap");
		return -1;
	}
	for (i = 0; i < c->p_n; i++)
		if (!(c->ppm[i] & PM_PRESENT) ||
		    (c->large && (c->ppm[i] & PM_PFN_MASK) != c->pfn0 + i)) {
			set_outcome(o, V_INCONCLUSIVE, "page %zu is not mapped by the parent as "
				    "the scenario needs", i);
			return -1;
		}
	if (c->large && folio_as_needed(c, o))
		return -1;
	for (k = 0; k < c->nkids; k++)
		if (kid_as_needed(c, k, o))
			return -1;
	return 0;
}

/* ---------------------------------------------------------------- madvise, reclaim, verdict */

/* madvise(MADV_FREE) of the parent's [0, a_n), then what it marked; 0, or -1 (o says why) */
static int case_advise(struct lcase *c, struct outcome *o)
{
	int k;

	counters_read(&c->c0, c->csize);
	if (madvise(c->mem, c->a_n * pagesize, MADV_FREE)) {
		if (errno == EINVAL)
			set_outcome(o, V_SKIP, "madvise(MADV_FREE) not supported");
		else
			set_outcome(o, V_ERROR, "madvise(MADV_FREE): %s", strerror(errno));
		return -1;
	}
	drain_lru();
	counters_read(&c->c1, c->csize);
	c->split = c->large && !folio_whole(c->pfn0, c->nf);
	smaps_of(0, c->mem, c->mem + c->len, &c->ss_p);
	pm_state(0, c->mem, c->a_n, &c->pst);
	for (k = 0; k < c->nkids; k++) {
		smaps_of(c->kids[k].pid, c->mem, c->mem + c->len, &c->ss_k[k]);
		c->kid_lazy += c->ss_k[k].lazyfree;
	}
	return 0;
}

/* reclaim, then every process says what its pages hold; 0, or -1 (o says why) */
static int case_reclaim(struct lcase *c, struct outcome *o)
{
	int k;

	cg_reclaim(2);
	counters_read(&c->c2, c->csize);
	tally_pages(c->mem, 0, c->a_n, c->seed, &c->t_adv);
	if (c->a_n < c->p_n)
		tally_pages(c->mem, c->a_n, c->p_n - c->a_n, c->seed, &c->t_keep);
	for (k = 0; k < c->nkids; k++)
		if (kid_check(&c->kids[k], &c->t_kid[k])) {
			set_outcome(o, V_ERROR, "the child did not report its pages");
			return -1;
		}
	return 0;
}

/* `# evidence:` how the state was made, the folio, LazyFree, every process's pages, counters */
static void print_evidence(const struct lcase *c)
{
	char moved_m[300], moved_r[300], txt[80];
	int k;

	counters_delta(&c->c0, &c->c1, c->csize, moved_m, sizeof(moved_m));
	counters_delta(&c->c1, &c->c2, c->csize, moved_r, sizeof(moved_r));
	printf("# evidence: %s", c->setup);
	if (c->large)
		printf("%zu kB folio at PFN %#llx (one folio, on the LRU, %s-mapped%s) before "
		       "madvise; after madvise: folio %s, ", c->size / 1024,
		       (unsigned long long)c->pfn0, c->s->shape == PMD_THP ? "PMD" : "PTE",
		       !c->clean ? "" : c->swap_freed ? ", PG_dirty" : ", in the swap cache",
		       c->split ? "split" : "still whole");
	else
		printf("%zu small pages before madvise; after madvise: ", c->n);
	printf("LazyFree this process %ld kB", c->ss_p.lazyfree);
	for (k = 0; k < c->nkids; k++)
		printf(", %s %ld kB", kid_name(k, c->nkids), c->ss_k[k].lazyfree);
	tally_text(&c->t_adv, c->a_n, txt, sizeof(txt));
	printf(", %zu of %zu advised pages lazyfree in kpageflags; after memory.reclaim: this "
	       "process's advised pages %s", c->pst.lazyfree, c->a_n, txt);
	if (c->a_n < c->p_n) {
		tally_text(&c->t_keep, c->p_n - c->a_n, txt, sizeof(txt));
		printf(", its other pages %s", txt);
	}
	for (k = 0; k < c->nkids; k++) {
		tally_text(&c->t_kid[k], c->c_n, txt, sizeof(txt));
		printf(", %s %s", kid_name(k, c->nkids), txt);
	}
	printf("; madvise: %s; reclaim: %s\n", moved_m, moved_r);
}

/* DATA LOSS: a child, or the parent's pages it did not advise, lost data; true when so */
static bool judge_loss(const struct lcase *c, struct outcome *o)
{
	size_t lost = 0, other = 0, total = 0, wl = 0;
	char who[160] = "";
	int k;

	for (k = 0; k < c->nkids; k++) {
		if (c->t_kid[k].intact == c->c_n)
			continue;
		wl += snprintf(who + wl, sizeof(who) - wl, "%s%s", wl ? " and " : "",
			       kid_name(k, c->nkids));
		lost += c->t_kid[k].zero;
		other += c->t_kid[k].other;
		total += c->c_n;
	}
	if (c->a_n < c->p_n && c->t_keep.intact != c->p_n - c->a_n) {
		wl += snprintf(who + wl, sizeof(who) - wl, "%sthis process (pages it did not "
			       "advise)", wl ? " and " : "");
		lost += c->t_keep.zero;
		other += c->t_keep.other;
		total += c->p_n - c->a_n;
	}
	if (!wl)
		return false;
	if (other)
		set_outcome(o, V_LOSS, "%s read zeros at %zu of %zu pages, other data at %zu", who,
			    lost, total, other);
	else
		set_outcome(o, V_LOSS, "%s read zeros at %zu of %zu pages", who, lost, total);
	return true;
}

/*
 * A shared folio the children's PTEs may keep dirty (not made clean: a plain fork copies the
 * dirty bits): a wrong "exclusive" would be saved by them at reclaim, so the children's intact
 * data proves nothing about the check. What this process's side shows is said instead: whether
 * its advised range was marked lazyfree, and what it read after reclaim.
 */
static void judge_caller_only(const struct lcase *c, struct outcome *o)
{
	char txt[80];

	tally_text(&c->t_adv, c->a_n, txt, sizeof(txt));
	set_outcome(o, V_CALLER, "the other process's PTEs were not made clean (a wrong decision "
		    "would be saved by their dirty bit); this process's side: LazyFree %ld kB, "
		    "%zu of %zu advised pages lazyfree in kpageflags, pglazyfree %+ld, after "
		    "reclaim %s; the other process keeps its %zu pages, the folio %s",
		    c->ss_p.lazyfree, c->pst.lazyfree, c->a_n,
		    moved_by(c->c0.vm[VM_PGLAZYFREE], c->c1.vm[VM_PGLAZYFREE]), txt,
		    c->c_n * c->nkids, c->large ? "not split" : "small");
}

/* a shared folio: split, left to every process, or (PTEs not clean) the caller's side only */
static void judge_shared(const struct lcase *c, struct outcome *o)
{
	if (c->split)
		set_outcome(o, V_SPLIT, "the other process keeps its %zu pages, the %zu kB folio "
			    "is gone", c->c_n * c->nkids, c->size / 1024);
	else if (c->kid_lazy)
		set_outcome(o, V_INCONCLUSIVE, "the kernel marked pages another process maps with "
			    "clean PTEs lazyfree (LazyFree %ld kB in the child's smaps), but "
			    "reclaim did not discard them", c->kid_lazy);
	else if (!c->clean)
		judge_caller_only(c, o);
	else
		set_outcome(o, V_PASS, "%s", "");
}

/* an exclusive range: freed, or not */
static void judge_exclusive(const struct lcase *c, struct outcome *o)
{
	size_t a_n = c->a_n;

	if (c->t_adv.zero == a_n)
		set_outcome(o, V_PASS, "%s", "");
	else if (c->t_adv.zero)
		set_outcome(o, V_INCONCLUSIVE, "only %u of %zu advised pages freed", c->t_adv.zero,
			    a_n);
	else if (c->ss_p.lazyfree || c->pst.lazyfree)
		set_outcome(o, V_INCONCLUSIVE, "marked lazyfree (LazyFree %ld kB) but reclaim did "
			    "not free it", c->ss_p.lazyfree);
	else
		set_outcome(o, V_MISSED, "%zu of %zu advised pages intact after reclaim, none "
			    "marked lazyfree", a_n, a_n);
}

/* the verdict: data loss first */
static void judge(const struct lcase *c, struct outcome *o)
{
	if (judge_loss(c, o))
		return;
	if (c->t_adv.other)
		set_outcome(o, V_INCONCLUSIVE, "%u of %zu advised pages read neither their data "
			    "nor zeros", c->t_adv.other, c->a_n);
	else if (c->nkids)
		judge_shared(c, o);
	else
		judge_exclusive(c, o);
}

static void case_end(struct lcase *c)
{
	int k;

	kid_stop(&c->locker);
	for (k = 0; k < MAX_KIDS; k++)
		kid_stop(&c->kids[k]);
	if (c->mem)
		munmap(c->mem, c->len);
	free(c->ppm);
	free(c->cpm);
}

static void run_case(const struct scenario *s, size_t size, struct outcome *o)
{
	struct lcase c;

	case_init(&c, s, size);
	if (!case_map(&c, o) && !case_share(&c, o) && !(c.clean && make_clean(&c, o)) &&
	    !case_check(&c, o) && !case_advise(&c, o) && !case_reclaim(&c, o)) {
		print_evidence(&c);
		judge(&c, o);
	}
	case_end(&c);
}

/* ---------------------------------------------------------------- main */

struct plan_entry {
	const struct scenario *s;
	size_t size;
};

static struct plan_entry plan[200];
static int nplan;

static void add_shape(enum shape shape, size_t size)
{
	int i;

	for (i = 0; i < NR_SCENARIOS; i++)
		if (scenarios[i].shape == shape && nplan < (int)(sizeof(plan) / sizeof(plan[0])))
			plan[nplan++] = (struct plan_entry){ .s = &scenarios[i], .size = size };
}

/* the small pages, then the PMD-mapped THP, then the PTE-mapped THP of every size (the PMD
 * size first, then every other mTHP size, ascending) */
static void make_plan(void)
{
	size_t sizes[25];
	int j, nsizes;

	add_shape(SMALL, pagesize);
	if (!have_thp)
		return;
	nsizes = thp_sizes(sizes);
	add_shape(PMD_THP, pmdsize);
	for (j = 0; j < nsizes; j++)
		add_shape(PTE_THP, sizes[j]);
}

/* what main() needs before the first case; 0, or the exit code of a probe that skips */
static int probe_setup(void)
{
	char msg[240];

	if (geteuid() != 0)
		return tap_skip_all("Please run this test as root (PFNs in pagemap, "
				    "/proc/kpageflags, cgroups, sysfs knobs)");
	pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
	kpageflags_fd = open("/proc/kpageflags", O_RDONLY);
	if (pagemap_fd < 0 || kpageflags_fd < 0)
		return tap_skip_all("cannot open /proc/self/pagemap or /proc/kpageflags "
				    "(CONFIG_PROC_PAGE_MONITOR?)");
	if (swap_total_kb() <= 0)
		return tap_skip_all("no swap: reclaim cannot swap the shared pages out and back");
	drain_page = mmap(NULL, pagesize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			  0);
	if (drain_page == MAP_FAILED)
		return tap_skip_all("mmap failed: %s", strerror(errno));
	soft_dirty = soft_dirty_works();
	catch_signals(cleanup);
	if (cg_setup(msg, sizeof(msg))) {
		cleanup();
		return tap_skip_all("%s", msg);
	}
	return 0;
}

int main(void)
{
	struct timespec t_end;
	char name[200];
	int i, ret;

	probe_start();
	ret = probe_setup();
	if (ret)
		return ret;
	/*
	 * One CPU (pin_cpu()): folios faulted on another CPU could still sit in that one's LRU
	 * batches and be neither on the LRU (folio_mark_lazyfree() skips them) nor lazyfree when
	 * smaps is read.
	 */
	pin_cpu();
	detect_thp();
	make_plan();
	printf("1..%d\n", nplan);
	printf("# page size %zu, PMD THP size %zu kB, %d THP sizes with their own knob, swap %ld "
	       "kB, cgroup %s (cgroup2 %s, memory controller %s)\n", pagesize,
	       have_thp ? pmdsize / 1024 : 0, nthp, swap_total_kb(), CG_DIR,
	       cg_mounted ? "mounted by the probe" : "already mounted",
	       cg_enabled_memory ? "enabled by the probe" : "already enabled");
	printf("# soft-dirty bits %s\n", soft_dirty ? "tracked: the children's clean PTEs of a "
	       "large folio can be proven" : "not tracked: the large clean rows are inconclusive");
	for (i = 0; i < nplan; i++) {
		struct outcome o = { .v = V_PASS };

		snprintf(name, sizeof(name), "MADV_FREE %s (%zu kB)", plan[i].s->text,
			 plan[i].size / 1024);
		tap_run(name);
		run_case(plan[i].s, plan[i].size, &o);
		end_case(name, &o, verdict_text);
	}
	cleanup();
	if (!access(CG_DIR, F_OK))
		printf("# could not remove " CG_DIR "\n");
	clock_gettime(CLOCK_MONOTONIC, &t_end);
	printf("# probe took %.1f s (%.1f s of it in memory.reclaim)\n",
	       elapsed_ms(&t_start, &t_end) / 1000, reclaim_ms_total / 1000.0);
	return tap_totals(nplan);
}
