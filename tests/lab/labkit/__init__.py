"""labkit: the fleetops lab (real Prometheus agents supervised like pods, and the simulated Kubernetes API).

Modules: ``runtime`` (the "kubelet": Supervisor, AgentRuntime, ProcessRuntime), ``faults``
(process faults), ``daemon`` (the one lab process), ``client`` (LabClient for tests), ``cli``
(``tests/lab/fleetlab``), ``kubeapi`` (the API server, another owner).
"""
