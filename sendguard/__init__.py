"""The commands a user runs: ``sendguard`` (``cli``), the worker it starts (``worker``)
and the demo behind ``./dev run`` (``demo``). Nothing below imports this package."""
