"""A local emulator of the ECS OpenAPI (what moto is for AWS), served over HTTP to the official SDK.

``models`` holds state and rules, ``responses`` the wire (signatures, parameters, JSON),
``server`` the WSGI app, control API and threaded server, ``faults`` fault injection,
``fleet`` fixtures, ``testing`` the ``EcsEmulator`` helper for tests. See README.md.
"""
