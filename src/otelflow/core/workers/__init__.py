"""Every core: one supervisor process runs N worker processes, each a whole collector on its own loop.

Receivers in every worker share the listening ports (SO_REUSEPORT), so the kernel spreads
connections. A component that keeps state by key declares it on its factory (``state_key``) and the
graph puts a :class:`~otelflow.core.workers.placement.KeyRouter` in front of it that sends each key
to one worker, the way the loadbalancing exporter sends each trace to one collector; a component that
owns one thing (a port, a file, a database) declares ``one_instance`` and runs in worker 0 only, the
others forwarding its data there. Workers talk over gRPC on Unix sockets (``exchange``).
"""
