"""Pure translations from canonical records to wire messages."""
