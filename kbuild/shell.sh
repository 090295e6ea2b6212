#!/bin/bash
# `invoke shell`: the guest's shell. Runs inside the virtme-ng guest, as its login shell.
#
# usage: shell.sh OUT TESTDIR ZRAM_SIZE THP_MODE HUGETLB_2M TEST_TIMEOUT [COMMANDS]
#
# The set-up is the cells' own: guest.sh beside this script, called with no test, does exactly
# what it does before a cell's tests (swap on zram, THP, hugetlb pages, debugfs, a tmpfs on /mnt,
# the test binaries copied to a tmpfs, a sudo stand-in) and records it in OUT/env.txt. guest.sh is
# not changed for the shell: its bytes are part of every cached cell's identity. Then an
# interactive bash in the tests' folder, with the tests on the PATH; or, given COMMANDS (a script:
# what `invoke shell` read from a standard input that is not a terminal), that script run there,
# whose exit code ends the guest.
set -u
here=$(dirname "$(readlink -f "$0")")
OUT=$1
"$here/guest.sh" "${@:1:6}" > /dev/null 2>&1
WORK=$(sed -n 's/^test_dir=//p' "$OUT/env.txt")
[ -d "$WORK" ] || WORK=$2
export PATH="$WORK:$WORK/.workbench-bin:$PATH"
cd "$WORK" || exit 1
env_of() { sed -n "s/^$1=//p" "$OUT/env.txt"; }
echo "workbench shell: Linux $(uname -r); swap $(env_of swap_kb) kB on zram; THP $(env_of thp_enabled)"
echo "  hugetlb 2 MiB pages $(env_of hugetlb_2048kB); tests in $WORK (on the PATH): $(ls "$WORK" | tr '\n' ' ')"
echo "  what the guest got: $OUT/env.txt; exit or Ctrl-D ends the guest"
[ $# -ge 7 ] && exec bash --norc "$7"
export PS1='[workbench \W]# '
exec bash --norc -i
