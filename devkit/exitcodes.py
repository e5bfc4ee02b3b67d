"""Exit codes of the ``snapstack`` command: one meaning each, the same for every sub-command.

A CI job or a script branches on these, so they are part of the interface (README, "Local tools").
``2`` is also what argparse exits with on a usage mistake, so a wrong command line and a usage
error found later read the same.
"""

OK = 0  #: everything asked for was done (or had been done already)
FAILED = 1  #: the run finished, but some disks (or deletions) failed
USAGE = 2  #: the command line or a named file was wrong: nothing was run
INCOMPLETE = 3  #: some disks were deferred or are in progress elsewhere: run again later
BAD_INPUT = 4  #: the event, manifest or configuration cannot be acted on
TOOL_ERROR = 5  #: the tool could not do its job (a server down, credentials refused, an internal error)
