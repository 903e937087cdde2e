"""Benchmarks (not tests): `python -m bench.chat_load` prints one JSON document.

See bench/README.md for what is measured and the figures recorded on the project machine.
"""
