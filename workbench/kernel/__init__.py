"""The kernel side: the user's tree and the workbench's clone of it (tree.py, git.py), Debian
imports (debian.py), configs and builds (kbuild.py), and the test binaries (selftests.py)."""
