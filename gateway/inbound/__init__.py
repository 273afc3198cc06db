"""The inbound direction: dossiers filed on the national portal, down to the local one-stop
software, and their status back (spec dvcqg §2.3-§2.4).

- :mod:`.model` (pure): the canonical inbound dossier, the check of the portal's body, and
  what a sink asks the gateway to deliver.
- :mod:`.endpoint`: ``POST /nps/createdossierfromdvcqg``, answering 0/1/-1 after the commit.
- :mod:`.transports`: the I/O of the reference sinks (HTTP, SQL insert, outbox file).
- :mod:`.worker`: the delivery loops with the outbox's guarantees.
- :mod:`.reports` (pure): what a status change of a portal-hosted dossier says.

The store keeps the inbound tables (:mod:`gateway.store.inbound`); this package picks no
engine and reaches no source, and routes are handed in by the composition root.
"""
