"""snapstack: event-driven ECS disk snapshots on Alibaba Cloud Function Compute."""

__version__ = "0.1.0"
