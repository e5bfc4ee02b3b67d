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

# ``snapstack hook`` talks to Function Compute; each way a call to FC can fail has its own code, so
# a CI job can tell "fix the pipeline" (usage, auth, not found) from "try again later" (throttled,
# server, network). FC's status and error code decide which (devkit/hook/errors.py).
AUTH = 6  #: no credentials, or FC refused them (403: unknown key, signature mismatch, access denied)
NOT_FOUND = 7  #: FC knows no such service, alias or function (404)
THROTTLED = 8  #: FC throttled the call (429, or 503 ResourceThrottled): try again later
SERVER = 9  #: FC failed (5xx) or answered something that is not FC's error format
NETWORK = 10  #: FC could not be reached (connection refused, DNS, timeout)
