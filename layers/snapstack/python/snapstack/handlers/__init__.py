"""The three FC handlers' library side; ``functions/<name>/index.py`` only forwards to these."""
