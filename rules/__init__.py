"""rules: training procedures (float forms; on-chip forms where a chip can run them)."""
