"""Lifecycle of hosted clusters: control planes, etcd, PKI and kubeconfigs."""
