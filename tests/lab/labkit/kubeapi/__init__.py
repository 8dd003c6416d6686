"""The lab's simulated Kubernetes API server.

One HTTPS process serves many clusters, each under ``/clusters/<name>``; the pods are the lab's
real processes (``labkit.runtime``) or synthetic ones. Start it with
``labkit.kubeapi.server.serve(supervisor, state)``.
"""
