"""Paddle's per-variable tensor file ("LoDTensor" serialization), in numpy only.

A released ERNIE ``params/`` directory (and every training checkpoint of the
original toolkit) holds one file per variable, named exactly after the
variable.  Each file is, little-endian:

    uint32  lod tensor version (0)
    uint64  lod level L, then L x (uint64 nbytes, nbytes of uint64 offsets)
    uint32  tensor version (0)
    int32   n, then n bytes of protobuf ``VarType.TensorDesc``:
            field 1 (varint) data type, field 2 (varint, repeated) dims
    bytes   the data, C order

Reading the header without Paddle lets the loader check shapes and dtypes of
a whole directory *before* touching the model (Paddle's own ``load_vars``
checks neither).  Files written here are byte-identical to Paddle's.
"""
import os
import struct

import numpy as np

# VarType enum values of the TensorDesc proto.
_CODE_TO_DTYPE = {
    0: np.dtype(np.bool_), 1: np.dtype(np.int16), 2: np.dtype(np.int32),
    3: np.dtype(np.int64), 4: np.dtype(np.float16), 5: np.dtype(np.float32),
    6: np.dtype(np.float64), 20: np.dtype(np.uint8), 21: np.dtype(np.int8),
}
_DTYPE_TO_CODE = {v: k for k, v in _CODE_TO_DTYPE.items()}
_BF16_CODE = 22  # stored as raw uint16 words


class TensorFileError(ValueError):
    """A tensor file is truncated, corrupt or of an unsupported type."""


class TensorHeader:
    """What a tensor file declares: dtype (numpy, or 'bfloat16'), shape, where the data starts."""

    def __init__(self, dtype, shape, data_offset, lod):
        self.dtype = dtype
        self.shape = tuple(shape)
        self.data_offset = data_offset
        self.lod = lod

    @property
    def nbytes(self):
        itemsize = 2 if self.dtype == "bfloat16" else np.dtype(self.dtype).itemsize
        return int(np.prod(self.shape, dtype=np.int64)) * itemsize if self.shape else itemsize

    def dtype_name(self):
        return "bfloat16" if self.dtype == "bfloat16" else np.dtype(self.dtype).name


def _read_varint(buf, pos):
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise TensorFileError("truncated varint in tensor descriptor")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _parse_desc(pb):
    pos, code, dims = 0, None, []
    while pos < len(pb):
        key, pos = _read_varint(pb, pos)
        field, wire = key >> 3, key & 7
        if field == 1 and wire == 0:
            code, pos = _read_varint(pb, pos)
        elif field == 2 and wire == 0:
            d, pos = _read_varint(pb, pos)
            dims.append(d - (1 << 64) if d >= 1 << 63 else d)
        elif field == 2 and wire == 2:  # packed dims: never written by Paddle, accepted
            n, pos = _read_varint(pb, pos)
            end = pos + n
            while pos < end:
                d, pos = _read_varint(pb, pos)
                dims.append(d)
        else:
            raise TensorFileError("unexpected field %d (wire type %d) in tensor descriptor" % (field, wire))
    if code is None:
        raise TensorFileError("tensor descriptor has no data type")
    if code == _BF16_CODE:
        return "bfloat16", dims
    if code not in _CODE_TO_DTYPE:
        raise TensorFileError("unsupported data type code %d" % code)
    return _CODE_TO_DTYPE[code], dims


def _read_exact(f, n, what):
    data = f.read(n)
    if len(data) != n:
        raise TensorFileError("truncated file: expected %d bytes of %s, got %d" % (n, what, len(data)))
    return data


def read_header(path):
    """Parse the header of the tensor file at ``path`` and check the file is complete."""
    with open(path, "rb") as f:
        version, = struct.unpack("<I", _read_exact(f, 4, "version"))
        if version != 0:
            raise TensorFileError("unsupported tensor file version %d" % version)
        lod_level, = struct.unpack("<Q", _read_exact(f, 8, "lod level"))
        if lod_level > 16:
            raise TensorFileError("implausible lod level %d (not a tensor file?)" % lod_level)
        lod = []
        size = os.fstat(f.fileno()).st_size
        for _ in range(lod_level):
            nbytes, = struct.unpack("<Q", _read_exact(f, 8, "lod size"))
            if nbytes > size - f.tell():
                raise TensorFileError("lod size %d exceeds the %d bytes left in the file (truncated or corrupt)"
                                      % (nbytes, size - f.tell()))
            lod.append(np.frombuffer(_read_exact(f, nbytes, "lod"), dtype=np.uint64))
        tversion, = struct.unpack("<I", _read_exact(f, 4, "tensor version"))
        if tversion != 0:
            raise TensorFileError("unsupported tensor version %d" % tversion)
        desc_size, = struct.unpack("<i", _read_exact(f, 4, "descriptor size"))
        if not 0 < desc_size < 4096:
            raise TensorFileError("implausible descriptor size %d" % desc_size)
        dtype, dims = _parse_desc(_read_exact(f, desc_size, "descriptor"))
        header = TensorHeader(dtype, dims, f.tell(), lod)
    actual = os.path.getsize(path) - header.data_offset
    if actual != header.nbytes:
        raise TensorFileError("file holds %d data bytes but its header %s %s needs %d (truncated or corrupt)"
                              % (actual, header.dtype_name(), list(header.shape), header.nbytes))
    return header


def read_tensor(path):
    """Return the numpy array stored in ``path`` (bfloat16 comes back as float32)."""
    header = read_header(path)
    with open(path, "rb") as f:
        f.seek(header.data_offset)
        raw = f.read(header.nbytes)
    if header.dtype == "bfloat16":
        words = np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16
        return words.view(np.float32).reshape(header.shape)
    return np.frombuffer(raw, dtype=header.dtype).reshape(header.shape).copy()


def tensor_bytes(array):
    """Serialize ``array`` to the tensor file layout (no LoD)."""
    array = np.ascontiguousarray(array)
    if array.dtype not in _DTYPE_TO_CODE:
        raise TensorFileError("cannot store dtype %s" % array.dtype)
    desc = b"\x08" + _varint(_DTYPE_TO_CODE[array.dtype]) + b"".join(b"\x10" + _varint(d) for d in array.shape)
    return struct.pack("<IQIi", 0, 0, 0, len(desc)) + desc + array.tobytes()


def write_tensor(path, array):
    """Write ``array`` to ``path`` (not atomic by itself; see ``checkpoint.save_vars_atomic``)."""
    with open(path, "wb") as f:
        f.write(tensor_bytes(array))
