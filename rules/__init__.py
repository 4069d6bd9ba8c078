"""rules: training procedures (float forms; on-chip forms where a chip can run them).

* ``rules.bptt.BPTT``                 full backprop through time (STBP)
* ``rules.ottt.OTTT``                 OTTT_A / OTTT_O (official-code semantics)
* ``rules.ttl.TTL``                   temporally-truncated local BPTT
* ``rules.rate.RateBP``               rate-based backprop, rate_M / rate_S
* ``rules.memory.SavedTensorMeter``   saved-for-backward accounting
* ``rules.train.train(TrainConfig)``  the shared, seeded trainer
"""
