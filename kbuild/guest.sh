#!/bin/bash
# Runs inside the virtme-ng guest. The guest sees the host's root filesystem
# read-only; this script writes only to OUT (the --rwdir the runner gives it).
#
# usage: [WORKBENCH_SETUP=swap,thp,...] guest.sh OUT TESTDIR ZRAM_SIZE THP_MODE HUGETLB_2M TEST_TIMEOUT TEST...
#
# It sets the guest up the way the mm selftests need (swap on zram, THP,
# hugetlb pages, debugfs; only the parts WORKBENCH_SETUP names when it is set:
# what the tests' kinds need), records what it actually got in OUT/env.txt, then
# runs each test line-buffered under a timeout: output in OUT/<test>.tap,
# exit code in OUT/<test>.rc; the output is also streamed to the console as it
# comes, so an executor that has only the console (a lab) keeps a crashed
# test's partial TAP. Markers also go to the kernel log (/dev/kmsg) at debug
# level, so dmesg shows which test was running when something broke while the
# console's TAP lines are not cut by them.
set -u
OUT=$1 TESTDIR=$2 ZRAM=$3 THP=$4 HUGE2M=$5 TMO=$6
shift 6

# Under TCG every program the set-up starts costs tens of milliseconds: it reads with builtins
# (and no extglob pattern: one over the kernel's command line cost over a second under TCG).
SETUP=${WORKBENCH_SETUP-all}
wants() { [ "$SETUP" = all ] || [[ ",$SETUP," == *",$1,"* ]]; }
get() { printf -v "$1" ''; IFS= read -r "$1" < "$2" 2> /dev/null; true; }  # get VAR FILE: its first line
mounted() { local dev dir rest; while read -r dev dir rest; do [ "$dir" = "$1" ] && return 0; done < /proc/mounts; return 1; }
kmsg() { echo "<7>workbench: $*" > /dev/kmsg 2>/dev/null || true; }
note() { echo "$1=$2" >> "$OUT/env.txt"; }
# where the time goes: "<phase> <seconds since the kernel started>" when each phase ends
stamp() { read -r up _ < /proc/uptime; echo "$1 $up" >> "$OUT/times.txt"; }

: > "$OUT/times.txt"
stamp start
: > "$OUT/env.txt"
kmsg "guest start"
echo "### WORKBENCH-GUEST-START"

note setup "$SETUP"

# debugfs (gup_test lives there)
wants debugfs && { mounted /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug 2>/dev/null; }

# some tests make their mount points under /mnt (charge_reserved_hugetlb.sh: /mnt/huge), which is
# the host's, read-only: the guest gets a tmpfs of its own there
wants tmpfs-mnt && { mounted /mnt || mount -t tmpfs -o size=16m none /mnt 2>/dev/null; }

# swap on zram
if wants swap && [ ! -e /sys/block/zram0 ] && [ -e /sys/class/zram-control/hot_add ]; then
	get _ /sys/class/zram-control/hot_add
fi
if wants swap && [ -e /sys/block/zram0 ]; then
	echo "$ZRAM" > /sys/block/zram0/disksize 2>/dev/null
	mkswap /dev/zram0 > /dev/null 2>&1 && swapon /dev/zram0 2>/dev/null
fi
swap_kb=; while read -r key value _; do [ "$key" = SwapTotal: ] && { swap_kb=$value; break; }; done < /proc/meminfo
note swap_kb "$swap_kb"

# transparent huge pages: the PMD size and every mTHP size the kernel offers
THPDIR=/sys/kernel/mm/transparent_hugepage
if [ -e "$THPDIR/enabled" ]; then
	wants thp && echo "$THP" > "$THPDIR/enabled" 2>/dev/null
	get enabled "$THPDIR/enabled"; note thp_enabled "$enabled"
	get defrag "$THPDIR/defrag"; note thp_defrag "$defrag"
	sizes=; for d in "$THPDIR"/hugepages-*kB; do [ -e "$d" ] && sizes+="${d##*hugepages-} "; done
	note thp_sizes "$sizes"
else
	note thp_enabled "none"
fi

# hugetlb: HUGE2M pages of 2 MiB, 2 of every other size (gigantic ones may not be had at runtime)
for d in /sys/kernel/mm/hugepages/hugepages-*; do
	wants hugetlb && [ -e "$d/nr_hugepages" ] || continue
	size=${d##*hugepages-}
	if [ "$size" = 2048kB ]; then want=$HUGE2M; else want=2; fi
	echo "$want" > "$d/nr_hugepages" 2>/dev/null
	get free "$d/free_hugepages"; note "hugetlb_$size" "$free/$want"
done

if [ -e /sys/kernel/debug/gup_test ]; then note gup_test yes; else note gup_test no; fi
if [ -e /sys/kernel/mm/ksm/run ]; then note ksm yes; else note ksm no; fi
get release /proc/sys/kernel/osrelease; note kernel "$release"
get cmdline /proc/cmdline  # without virtme-ng's virtme.exec=`<the script, in base64>`
head=${cmdline%%virtme.exec=*} tail=${cmdline#*virtme.exec=}
[ "$head" = "$cmdline" ] || cmdline=$head${tail#"${tail%% *}"}
note cmdline "$cmdline"

# The tests run from a copy on a tmpfs of their own: some create their files in the current
# folder (gup_longterm's "local tmpfile", soft-dirty, virtual_address_range), which the read-only
# host folder refuses, and gup_longterm skips a filesystem it does not know (the guest's /tmp is
# an overlay). Only the tests named are copied, unless a test runs whatever the folder holds.
copy=("$TESTDIR/.")
wants tests-folder || { copy=(); for t in "$@"; do [ -e "$TESTDIR/$t" ] && copy+=("$TESTDIR/$t"); done; }
WORK=$(mktemp -d /tmp/workbench-tests.XXXXXX) && { mount -t tmpfs -o size=256m none "$WORK" 2>/dev/null; true; } &&
	{ [ ${#copy[@]} = 0 ] || cp -a "${copy[@]}" "$WORK/"; } || WORK=$TESTDIR
note test_dir "$WORK"
cd "$WORK" || exit 1
# run_vmtests.sh runs on-fault-limit as "sudo -u nobody" and skips it without sudo; the guest is
# root and has none, so a stand-in does the same with runuser.
if wants sudo && ! command -v sudo > /dev/null && command -v runuser > /dev/null; then
	mkdir -p "$WORK/.workbench-bin"
	cat > "$WORK/.workbench-bin/sudo" <<'SUDO'
#!/bin/bash
if [ "${1:-}" = -u ]; then user=$2; shift 2; exec runuser -u "$user" -- "$@"; fi
exec "$@"
SUDO
	chmod 755 "$WORK/.workbench-bin/sudo" "$WORK"
	PATH=$WORK/.workbench-bin:$PATH
	note sudo runuser
fi
# coverage (a kernel with gcov: kbuild/coverage.config): every test starts from zeroed counters and
# its .gcda files are copied to OUT/gcov/<test>/test after it; a test that marks its cases (the
# probes) runs $WORKBENCH_COUNTERS with a folder under $WORKBENCH_COUNTERS_OUT at each boundary
GCOV=/sys/kernel/debug/gcov  # debugfs whatever the kinds need: only a gcov kernel has this folder
mounted /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug 2>/dev/null
if [ -e "$GCOV/reset" ]; then
	mkdir -p "$WORK/.workbench-bin"
	cat > "$WORK/.workbench-bin/counters" <<COUNTERS
#!/bin/bash
find $GCOV -name '*.gcda' | while read -r f; do r=\${f#$GCOV/}; mkdir -p "\$1/\${r%/*}"; cat "\$f" > "\$1/\$r"; done
COUNTERS
	chmod 755 "$WORK/.workbench-bin/counters"
	export WORKBENCH_COUNTERS=$WORK/.workbench-bin/counters
	note gcov yes
fi
stamp setup
for t in "$@"; do
	kmsg "test $t begin"
	echo "### WORKBENCH-TEST-BEGIN $t"
	if [ -n "${WORKBENCH_COUNTERS:-}" ]; then
		export WORKBENCH_COUNTERS_OUT=$OUT/gcov/$t/cases
		echo 1 > "$GCOV/reset"
	fi
	case "$t" in
	mm:*) run=(./run_vmtests.sh -t "${t#mm:}") ;;  # a run_vmtests.sh category
	*) run=("./$t") ;;
	esac
	if [ -x "${run[0]}" ]; then
		timeout --kill-after=10 "$TMO" stdbuf -oL -eL "${run[@]}" 2>&1 < /dev/null | tee "$OUT/$t.tap"
		rc=${PIPESTATUS[0]}
	else
		echo "1..0 # SKIP $t was not built" | tee "$OUT/$t.tap"
		rc=4
	fi
	[ -n "${WORKBENCH_COUNTERS:-}" ] && "$WORKBENCH_COUNTERS" "$OUT/gcov/$t/test"
	echo "$rc" > "$OUT/$t.rc"
	echo "### WORKBENCH-TEST-END $t rc=$rc"
	kmsg "test $t end rc=$rc"
	stamp "test:$t"
done

get tainted /proc/sys/kernel/tainted; note tainted "$tainted"
sync
stamp done
echo done > "$OUT/done"
kmsg "guest done"
echo "### WORKBENCH-GUEST-DONE"
