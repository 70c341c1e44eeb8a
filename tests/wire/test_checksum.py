from hypothesis import given
from hypothesis import strategies as st

from vnet.wire.checksum import (
    internet_checksum,
    ones_complement_sum,
    pseudo_header_sum,
)


def word_by_word_sum(data: bytes, initial: int = 0) -> int:
    """RFC 1071 section 1 taken literally: add 16-bit words, fold carries."""
    if len(data) % 2:
        data += b"\x00"
    total = initial
    for index in range(0, len(data), 2):
        total += data[index] << 8 | data[index + 1]
        total = (total & 0xFFFF) + (total >> 16)
    return total


def test_rfc_1071_numerical_example() -> None:
    # RFC 1071 section 3: these bytes sum to ddf2, so the checksum is 220d.
    data = bytes.fromhex("0001f203f4f5f6f7")
    assert ones_complement_sum(data) == 0xDDF2
    assert internet_checksum(data) == 0x220D


def test_all_zero_data_checksums_to_all_ones() -> None:
    assert internet_checksum(bytes(20)) == 0xFFFF


def test_a_sum_of_negative_zero_checksums_to_zero() -> None:
    assert ones_complement_sum(b"\xff\xff") == 0xFFFF
    assert internet_checksum(b"\xff\xff") == 0x0000
    assert internet_checksum(b"\x80\x00\x7f\xff") == 0x0000


def test_odd_length_pads_the_last_byte_on_the_right() -> None:
    assert internet_checksum(b"\x12") == 0xFFFF - 0x1200
    assert internet_checksum(b"\x00\x01\x02") == 0xFFFF - 0x0201


@given(st.binary(max_size=300), st.integers(0, 0xFFFF))
def test_matches_the_word_by_word_definition(data: bytes, initial: int) -> None:
    assert ones_complement_sum(data, initial) == word_by_word_sum(data, initial)
    assert internet_checksum(data, initial) == 0xFFFF - word_by_word_sum(data, initial)


@given(st.binary(max_size=300).map(lambda data: data + b"\x00" * (len(data) % 2)))
def test_data_with_its_checksum_inserted_verifies_to_zero(data: bytes) -> None:
    checksum = internet_checksum(data)
    assert internet_checksum(data + checksum.to_bytes(2, "big")) == 0


@given(
    st.integers(0, 0xFFFFFFFF),
    st.integers(0, 0xFFFFFFFF),
    st.integers(0, 0xFF),
    st.integers(0, 0xFFFF),
)
def test_pseudo_header_sum_is_the_sum_of_its_words(
    src: int, dst: int, protocol: int, length: int
) -> None:
    # RFC 9293 3.1: source, destination, zero, protocol, length.
    header = (
        src.to_bytes(4, "big")
        + dst.to_bytes(4, "big")
        + bytes([0, protocol])
        + length.to_bytes(2, "big")
    )
    assert pseudo_header_sum(src, dst, protocol, length) == word_by_word_sum(header)
