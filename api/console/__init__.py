"""The operator console: HTML pages on the worker's web port for the people who decide
appeals (``/console/...``).

``session`` turns an operator token into a signed session cookie and checks the CSRF
token every form carries, ``render`` draws the pages (every value escaped), ``views``
serves them. Pages work without JavaScript.
"""
