"""The benchmark suite: ``python -m bench`` (or ``make bench``); ``--smoke`` for a quick run.

Every figure is measured against the real bot wiring with the Slack emulator and moto, and every
ratio compares measurements taken in the same run. See docs/performance.md.
"""
