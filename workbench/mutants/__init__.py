"""Mutation analysis of a study's sites: would the tests catch a wrong version of the check?

`operators.py` reads the study's operators (`templates/<study>/mutants.toml`), `generate.py` turns
each (site, operator) into a variant template the matrix renders, builds and boots like any
column, `kills.py` judges a finished run by the kill rule and `show.py` writes the report's
mutants section.
"""
