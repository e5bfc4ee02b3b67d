"""A local stand-in for the ROS (Resource Orchestration Service) API, and ROS's own template checks.

``cdk`` runs the ROS CDK's schema validators under Node; ``template`` reads and checks a template
(references, conditions, parameters) and resolves its intrinsic functions; ``models`` holds stacks
and walks their lifecycle, ``responses`` the wire (the ECS emulator's signature checks), ``server``
the WSGI app and control API, ``testing`` the ``RosStandIn`` helper for tests. Same split as
``devkit/emulator/``.
"""
