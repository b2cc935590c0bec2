"""hipercow_workers: a pool of long-lived workers that run many small tasks, fed through Redis."""
