"""The evaluation protocol of LVS / EZ-VSL / SLAVC (docs/protocol.md), vectorised over batches."""
