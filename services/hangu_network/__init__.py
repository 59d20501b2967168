"""hangu network service: networks (Linux bridges, IPAM, nftables NAT and
published ports) and per-container sandboxes (network namespaces plus the
hosts, hostname and resolv.conf files that describe them)."""
