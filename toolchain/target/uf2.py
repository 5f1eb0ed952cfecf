"""UF2: the file format USB mass-storage bootloaders (the RP2040's BOOTSEL drive) flash from.

A UF2 file is a run of independent 512-byte blocks, each carrying up to 476 bytes of payload
for one target address (Microsoft's UF2 specification, github.com/microsoft/uf2):

    offset  field (little-endian uint32)
         0  magic start 0        0x0A324655 ("UF2\\n")
         4  magic start 1        0x9E5D5157
         8  flags                0x00002000 = the family id field is set
        12  target address       where the payload goes in flash
        16  payload size         256 here (what the RP2040 boot ROM accepts)
        20  block number         0 .. total - 1
        24  total blocks         in the file
        28  family id            or the file size, or 0
        32  data[476]            payload, then zero padding
       508  magic end            0x0AB16F30

The bootloader writes each block where it says and reboots into the image once it has seen
`total blocks` distinct blocks, so the file needs no order and no checksum; a family id lets a
bootloader ignore images built for another chip (RP2040: 0xe48bff56).

Public API: `bin_to_uf2(data, base_address, family_id)`, `parse_uf2(data)`, `uf2_to_bin(data)`.
"""

from __future__ import annotations

import struct

from ..core.errors import UsageError

BLOCK_BYTES = 512
PAYLOAD_BYTES = 256            # per block; the RP2040 boot ROM accepts nothing else
DATA_BYTES = 476               # room for payload in a block
MAGIC_START0 = 0x0A324655
MAGIC_START1 = 0x9E5D5157
MAGIC_END = 0x0AB16F30

FLAG_NOT_MAIN_FLASH = 0x00000001
FLAG_FILE_CONTAINER = 0x00001000
FLAG_FAMILY_ID = 0x00002000
FLAG_MD5 = 0x00004000
FLAG_EXTENSION_TAGS = 0x00008000

_HEADER = struct.Struct("<8I")
_FOOTER = struct.Struct("<I")
assert _HEADER.size + DATA_BYTES + _FOOTER.size == BLOCK_BYTES


def bin_to_uf2(data: bytes, base_address: int, family_id: int | None) -> bytes:
    """A raw flash image (the bytes from `base_address` on) -> UF2 blocks of 256-byte payloads.
    The last payload is padded with zeros. `family_id` None leaves the family field 0 and its
    flag clear. Raises UsageError for an empty image or an address that is not 256-aligned."""
    data = bytes(data)
    if not data:
        raise UsageError("UF2: the image is empty, nothing to convert; pass the .bin the build wrote")
    if not isinstance(base_address, int) or base_address < 0:
        raise UsageError(f"UF2: base address {base_address!r} must be a non-negative integer, e.g. 0x10000000")
    if base_address % PAYLOAD_BYTES:
        raise UsageError(f"UF2: base address {base_address:#x} is not a multiple of {PAYLOAD_BYTES}; "
                         "fix app_flash_offset in the board file")
    if base_address + len(data) > 1 << 32:
        raise UsageError(f"UF2: {len(data)} bytes from {base_address:#x} run past the 32-bit address space")
    if family_id is not None and not 0 <= family_id <= 0xFFFFFFFF:
        raise UsageError(f"UF2: family id {family_id!r} must be a 32-bit unsigned integer, e.g. 0xe48bff56")
    flags = 0 if family_id is None else FLAG_FAMILY_ID
    total = (len(data) + PAYLOAD_BYTES - 1) // PAYLOAD_BYTES
    out = bytearray()
    for n in range(total):
        payload = data[n * PAYLOAD_BYTES:(n + 1) * PAYLOAD_BYTES].ljust(PAYLOAD_BYTES, b"\0")
        out += _HEADER.pack(MAGIC_START0, MAGIC_START1, flags, base_address + n * PAYLOAD_BYTES, PAYLOAD_BYTES,
                            n, total, family_id or 0)
        out += payload.ljust(DATA_BYTES, b"\0")
        out += _FOOTER.pack(MAGIC_END)
    return bytes(out)


def parse_uf2(data: bytes) -> list[dict]:
    """UF2 bytes -> one dict per block: flags, address, payload_size, block_no, num_blocks,
    family_id (None unless its flag is set), file_size (the same field when the flag is clear)
    and data (the payload bytes). Raises UsageError naming the first malformed block."""
    data = bytes(data)
    if not data or len(data) % BLOCK_BYTES:
        raise UsageError(f"not a UF2 file: {len(data)} bytes is not a whole number of {BLOCK_BYTES}-byte blocks")
    blocks = []
    for i in range(len(data) // BLOCK_BYTES):
        raw = data[i * BLOCK_BYTES:(i + 1) * BLOCK_BYTES]
        m0, m1, flags, address, size, block_no, num_blocks, word7 = _HEADER.unpack_from(raw, 0)
        (m_end,) = _FOOTER.unpack_from(raw, BLOCK_BYTES - _FOOTER.size)
        if (m0, m1, m_end) != (MAGIC_START0, MAGIC_START1, MAGIC_END):
            raise UsageError(f"not a UF2 file: block {i} (byte {i * BLOCK_BYTES}) has no UF2 magic numbers")
        if size > DATA_BYTES:
            raise UsageError(f"bad UF2 file: block {i} claims a {size}-byte payload (at most {DATA_BYTES})")
        has_family = bool(flags & FLAG_FAMILY_ID)
        blocks.append({
            "flags": flags, "address": address, "payload_size": size, "block_no": block_no,
            "num_blocks": num_blocks, "family_id": word7 if has_family else None,
            "file_size": None if has_family else word7,
            "data": raw[_HEADER.size:_HEADER.size + size],
        })
    return blocks


def uf2_to_bin(data: bytes) -> tuple[int, bytes]:
    """UF2 bytes -> (lowest address, the flash image from it), gaps filled with 0xff (erased
    flash). Blocks flagged not-main-flash are skipped."""
    blocks = [b for b in parse_uf2(data) if not b["flags"] & FLAG_NOT_MAIN_FLASH]
    if not blocks:
        raise UsageError("UF2: no blocks for main flash")
    base = min(b["address"] for b in blocks)
    end = max(b["address"] + b["payload_size"] for b in blocks)
    image = bytearray(b"\xff" * (end - base))
    for b in blocks:
        at = b["address"] - base
        image[at:at + b["payload_size"]] = b["data"]
    return base, bytes(image)
