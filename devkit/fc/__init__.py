"""A local Function Compute 2.0 invoke endpoint: the API ``aliyun-fc2`` calls, serving template.yml's
functions through the devkit local runner (see README.md in this folder)."""
