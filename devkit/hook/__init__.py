"""``snapstack hook``: a CI job asks deploy_hook, through aliyun-fc2, to snapshot a release's disks."""
