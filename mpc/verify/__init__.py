"""`mpc verify`: what the rendered policies of a tree actually allow, layer by layer, against the mesh.

Pure functions of a cluster's objects (as an overlay renders to) and the resolved model: objects (the
cluster view), one evaluator per layer (netpol, mtls, authz, egress), intent (what the mesh means to
allow), matrix (every caller, destination and layer), retries (the worst case of one client request),
report (the findings, located in mesh.yaml). Reading the tree is the workflow's business.
"""
