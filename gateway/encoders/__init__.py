"""Encoders: canonical records to the portal's wire messages, and the checks on those messages.

- :mod:`~gateway.encoders.dvcqg_json`: the DVCQG JSON messages (DongBoHoSoMC, ...).
- :mod:`~gateway.encoders.xroad_soap`: the SOAP bodies for the X-Road path, built with
  :mod:`~gateway.encoders.wsdl` (zeep from the packaged contract WSDL; it reads that file once
  and never sends anything).
- :mod:`~gateway.encoders.mapping`: local codes to national codes, from loaded tables.
- :mod:`~gateway.encoders.contract_check`: every outgoing message against its JSON Schema.

Pure: values in, values out. No sockets, no clock, no environment, no files but the packaged
contracts. May import the model, the canonical codec, errors and ``contracts``; nothing that
runs (store, delivery, routes, sources).
"""
