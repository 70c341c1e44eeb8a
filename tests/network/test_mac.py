import pytest

from vnet.network.mac import UnknownVendor, host_mac, vendor_ouis

ADDRESS = 0xC0000207  # 192.0.2.7


def test_a_vendor_mac_starts_with_one_of_its_ouis():
    mac = host_mac(ADDRESS, "Dell")

    assert len(mac) == 6
    assert mac[:3] in vendor_ouis("dell")


def test_macs_are_stable_and_differ_between_hosts():
    assert host_mac(ADDRESS, "Cisco Systems") == host_mac(ADDRESS, "Cisco Systems")
    assert host_mac(ADDRESS, None) != host_mac(ADDRESS + 1, None)


def test_without_vendor_the_mac_is_locally_administered_unicast():
    mac = host_mac(ADDRESS, None)

    assert mac[0] & 0x02 and not mac[0] & 0x01


def test_an_unknown_vendor_suggests_close_names():
    with pytest.raises(UnknownVendor) as caught:
        vendor_ouis("Dellx")

    assert "dell" in caught.value.suggestions
