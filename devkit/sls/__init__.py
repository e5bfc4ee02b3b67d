"""What the stack's SLS log store holds and what its saved searches and alerts select, offline.

``logstore`` turns a function's stdout into the log entries FC writes and applies template.yml's
``ALIYUN::SLS::Index`` to them (the fields a query can name); ``query`` evaluates the small subset of
SLS query syntax that template.yml's saved searches and alerts use, and an alert's condition. Tests
run a handler against the ECS emulator, capture its lines and check what each alert would select.
"""
