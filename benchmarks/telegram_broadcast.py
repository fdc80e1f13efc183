"""The broadcast benchmark's old name: ``python -m benchmarks.telegram_broadcast`` runs
``benchmarks.outbox_throughput`` with the same options."""

from benchmarks.outbox_throughput import main

if __name__ == "__main__":
    main()
