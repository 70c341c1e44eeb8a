"""The Internet checksum of RFC 1071, as used by IPv4, ICMP, TCP and UDP.

The checksum is the one's complement of the one's-complement sum of the data
taken as 16-bit big-endian words, an odd last byte padded with a zero
(RFC 1071 section 1). Python has no fast loop over words, so the sum is taken
in one step. RFC 1071 section 2(C) sums in wider units and folds the result;
taken to its limit, because 2**16 == 1 modulo 0xffff, the whole data read as
one big integer is congruent to the sum of its words modulo 0xffff.
`int.from_bytes` and `%` run at C speed.

One's-complement arithmetic has two zeros, 0x0000 and 0xffff. The folded sum
is 0x0000 only when every word is zero; any other sum congruent to zero folds
to 0xffff. Both cases are kept apart below so the result matches the
word-by-word definition exactly.

The codecs' hot paths use the same facts without calling in here, since a
call costs as much as the arithmetic:

- a header's fields are summed as integers, with no first packing: a 32-bit
  field such as an address is congruent to the sum of its two 16-bit words,
  and a byte in the high half of a word adds as byte << 8;
- for a positive sum, the checksum field is `-total % 0xffff`, which is
  0 exactly when the sum folds to 0xffff; a sum that may be zero (an
  all-zero ICMP message) needs the one case apart;
- a received header or segment is correct when its sum, checksum included,
  is a non-zero multiple of 0xffff.

The echo reply, which differs from its request in one word, is updated
incrementally as RFC 1624 describes (`vnet.wire.icmp.answer_echo`); every
other emit sums its whole header and payload. That costs about 0.25 us for
a small packet and 2.5 us for 1,500 bytes, where the big-integer division
dominates.
"""

_ONES = 0xFFFF


def ones_complement_sum(data: bytes, initial: int = 0) -> int:
    """Return the folded 16-bit one's-complement sum of data plus initial.

    initial is a non-negative partial sum, such as `pseudo_header_sum`.
    """
    total = int.from_bytes(data, "big")
    if len(data) & 1:
        total <<= 8  # the odd last byte is the high half of a padded word
    total += initial
    folded = total % _ONES
    if folded == 0 and total:
        return _ONES
    return folded


def internet_checksum(data: bytes, initial: int = 0) -> int:
    """Return the checksum field value for data, with initial added to the sum.

    Over data that already holds a correct checksum the result is 0, which is
    how received headers are verified. This is the hot path of every codec,
    so it repeats the body of ones_complement_sum rather than call it.
    """
    total = int.from_bytes(data, "big")
    if len(data) & 1:
        total <<= 8
    total += initial
    folded = total % _ONES
    if folded == 0 and total:
        return 0  # the sum is 0xffff, "negative zero"
    return _ONES - folded


def pseudo_header_sum(src: int, dst: int, protocol: int, length: int) -> int:
    """Return the one's-complement sum of the IPv4 pseudo header.

    RFC 9293 section 3.1 (TCP) and RFC 768 (UDP): source address, destination
    address, a zero byte, the protocol number and the transport length. A
    32-bit address is congruent to the sum of its two halves modulo 0xffff, so
    the fields are added whole.
    """
    total = src + dst + protocol + length
    folded = total % _ONES
    if folded == 0 and total:
        return _ONES
    return folded
