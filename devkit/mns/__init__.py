"""A local MNS (Simple Message Queue) queue endpoint that the official ``aliyun-mns-sdk`` talks to."""
