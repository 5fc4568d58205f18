"""Failover and durability experiments: master loss under Sentinel or the Enterprise stand-in (kill, stop,
partition), restart under each persistence setting, and the memory wall (see ``docs/failover.md``)."""
