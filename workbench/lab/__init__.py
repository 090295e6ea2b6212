"""LAVA labs: the REST client (`api.py`), the job's log (`joblog.py`), the job definition
(`jobdef.py`), artifacts the workers fetch (`artifacts.py`), and a lab on this host for trying
it out and for the tests (`local.py`, `daemons.py`). The executor that uses them is
`workbench/guest/lava.py`."""
