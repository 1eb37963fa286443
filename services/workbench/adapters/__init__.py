"""The workbench's adapters: HTTP clients of the case service's staff API and of intake_web's agent API,
and the development issuer's sign-in."""
