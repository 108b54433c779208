"""What runs when: the `rq cron` configuration (scheduler/cron.py)."""
