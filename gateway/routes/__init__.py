"""Routes: the ways of reaching the portal, one module each (DVCQG REST, X-Road REST and SOAP,
LGSP), behind the contract of :mod:`~gateway.routes.contract`; :mod:`~gateway.routes.router`
builds the configured one.

May import: the model, encoders, errors, config and audit (to note the exact bytes sent). Not
the store or delivery: the delivery worker calls a route, never the reverse.
"""
