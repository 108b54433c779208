"""RQ jobs: flush the queue into objects, run the scheduled analysis."""
