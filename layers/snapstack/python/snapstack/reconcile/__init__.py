"""The reconciler: the durable backstop that loses no disk, and the RPO check.

FC retries an event a few times; a slot that is still open after the last delivery (deferred,
claimed by an invocation that was killed, sent without an answer), or whose snapshot ended
``failed`` at ECS, is the reconciler's. A timer runs it (``handlers/reconciler.py``):

- ``sources``: where work comes from. The first source is the token table's open records; a
  source is anything that yields ``work.Work`` (the OnFailure destination queue is planned).
- ``redrive``: re-drives each slot through the executor's claim protocol until it is done or its
  deadline (``deadlines``) passes; a disk with a snapshot in progress waits instead of burning
  retries; at most one slot per disk per run.
- ``verify``: created snapshots that ECS reports ``failed`` reopen their slot with a new
  ClientToken generation.
- ``rpo``: every disk a policy selects has an accomplished snapshot of ours newer than the
  policy's RPO (``inventory`` reads them with DescribeSnapshots).

Every slot's record carries what re-driving it needs (``meta``): the complete request and the
slot's deadline, written by the first claim.
"""
