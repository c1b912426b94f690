"""The evaluation protocol of LVS / EZ-VSL / SLAVC (PROTOCOLS.md), vectorised over batches."""
