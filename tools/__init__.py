"""The project's own scripts (not part of the installed package): run each from the repository
root as ``python -m tools.<name>``, as the Makefile does, so that they import one another and
``course_lstm`` without touching ``sys.path``."""
