"""The virtual network: the address plan, ARP, and where packets go next."""
