//! The `shm-disruptor bridge` command.
