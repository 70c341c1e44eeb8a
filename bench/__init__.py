"""Benchmarks for `make bench`. Each prints its figures as ratios to a ceiling
or reference measured in the same run, since absolute times on a shared
machine mean little. Benchmarks are not tests: nothing here asserts a time.
"""
