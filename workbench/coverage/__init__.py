"""Coverage: did the change run, and how did its checks decide (a config axis: `minimal+coverage`).

`profile` is the build side (which objects are profiled, make's variables, what a cell keeps at its
build), `spots` the lines coverage speaks of (the study's sites, with how their decisions are read,
and the lines a column changed), `gcov` reads counts with gcc's gcov, `read` turns a cell's counters
into its record's `Coverage` (records.py: per test and per case, one tally per spot). The reports
show it (report/coverage.py).
"""
