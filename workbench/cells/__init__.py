"""Cells: a cell is (base, variant, config, tests, repeat). Its identity (identity.py) hashes
everything that can change its result; the cache (cache.py) keeps every cell that reached a
verdict; the plan (plan.py) says which cells a matrix needs; prepare.py sets a base up once
(configs, test binaries, toolchain); the driver (driver.py) builds each cell, hands it to an
executor and judges what comes back (judge.py)."""
