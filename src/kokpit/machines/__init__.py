"""Machines: real worker nodes, prepared over SSH, joined to a cluster and kept consistent."""
