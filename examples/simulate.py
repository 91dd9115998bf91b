"""Simulated example data for the OpenEM catalogue, byte-for-byte the same on every machine.

The catalogue commits the md5 of every example file, so these writers must give identical bytes on any CPU, OS,
numpy or mrcfile version. Everything that decides a pixel value is integer arithmetic:

* random numbers come from a counter-based splitmix64 written here (Python ints for scalars, wrapping numpy
  ``uint64`` for arrays; never ``np.random``, whose streams may change between numpy versions);
* geometry is integer: positions in whole or quarter pixels, squared distances in integers, square roots
  through :func:`isqrt` (an exact integer square root by binary search over a table of squares);
* cosines and sines of tilt angles are evaluated from the mdoc's decimal text with exact rational arithmetic
  (:class:`fractions.Fraction` Taylor series) and rounded to 20-bit fixed point, so no libm is involved;
* blurs are integer box sums (cumulative sums of int64, then floor division), never float convolutions;
* float32 data (the micrographs) are integers below 2**24 divided by a power of two, which is exact;
* the MRC header is written field by field by this module (nothing left to mrcfile's defaults, which include
  the time of day), its statistics are computed exactly from the integers (Python ints and Fractions) instead
  of by mrcfile's float reductions, and the 1024 header bytes are checked against an independent
  ``struct.pack`` of the same fields before and after the file is closed.

Writers: :func:`tilt_series` (cryo-ET tilt series described by a SerialEM mdoc), :func:`micrographs`
(motion-corrected single-particle micrographs with EPU-like names) and :func:`sbf_stack` (serial block-face SEM
stack). ``python examples/simulate.py OUTDIR`` writes all of them.
"""

from __future__ import annotations

import math
import re
import struct
import sys
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path

import mrcfile
import numpy as np

LABEL = "OpenEM example data: simulated, examples/simulate.py"
HERE = Path(__file__).resolve().parent
MDOC = HERE / "files" / "TS_01.mrc.mdoc"

# ---------------------------------------------------------------------------------------------------------------
# Random numbers: splitmix64 (Steele, Lea & Flood 2014) used as a counter-based generator. Draw i (1, 2, …) of
# a stream is mix(key + i * golden) mod 2**64, so numpy arrays of draws equal the Python scalar draws.

_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB
SEED = 0x4F50454E454D2024  # "OPENEM" + 2024: the one seed; streams are derived from it by name


def mix64(x: int) -> int:
    """The splitmix64 output function on a Python int (mod 2**64)."""
    x &= _M64
    x = ((x ^ (x >> 30)) * _MIX1) & _M64
    x = ((x ^ (x >> 27)) * _MIX2) & _M64
    return x ^ (x >> 31)


def stream_key(name: str) -> int:
    """A stream's key, from the seed and the stream's name (ASCII bytes folded in with mix64)."""
    key = SEED
    for byte in name.encode("ascii"):
        key = mix64(key ^ byte)
    return key


class Rng:
    """Scalar draws of one stream (for object positions and sizes: a few hundred draws)."""

    def __init__(self, name: str):
        self.key = stream_key(name)
        self.count = 0

    def u64(self) -> int:
        self.count += 1
        return mix64(self.key + self.count * _GOLDEN)

    def between(self, low: int, high: int) -> int:
        """An integer in [low, high] (the modulo bias, below 2**-50 here, is irrelevant)."""
        return low + self.u64() % (high - low + 1)


def u64_array(name: str, count: int) -> np.ndarray:
    """Draws 1 … count of stream ``name`` as a uint64 array (equal to ``Rng(name).u64()`` called count times)."""
    index = np.arange(1, count + 1, dtype=np.uint64)
    x = np.uint64(stream_key(name)) + index * np.uint64(_GOLDEN)  # array arithmetic wraps mod 2**64
    x ^= x >> np.uint64(30)
    x *= np.uint64(_MIX1)
    x ^= x >> np.uint64(27)
    x *= np.uint64(_MIX2)
    x ^= x >> np.uint64(31)
    return x


def gaussian_noise(name: str, shape: tuple[int, ...], sigma: int) -> np.ndarray:
    """Approximately Gaussian integer noise (int64, mean 0, standard deviation ≈ sigma): the sum of the four
    16-bit lanes of each draw (Irwin–Hall, n = 4), centred and scaled with integer floor division."""
    x = u64_array(name, math.prod(shape))
    lanes = np.uint64(0xFFFF)
    total = (x & lanes) + ((x >> np.uint64(16)) & lanes) + ((x >> np.uint64(32)) & lanes) + (x >> np.uint64(48))
    centred = total.astype(np.int64) - 2 * 0xFFFF  # mean of 4 lanes = 4 × 65535 / 2
    # Standard deviation of the sum: sqrt(4 × (65536² − 1) / 12) = 37837.2; 37837 is close enough.
    return (centred * sigma // 37837).reshape(shape)


# ---------------------------------------------------------------------------------------------------------------
# Integer helpers.


def isqrt(values: np.ndarray) -> np.ndarray:
    """floor(sqrt(v)) of non-negative integers, exactly: a binary search in the table of squares."""
    values = np.asarray(values, dtype=np.int64)
    top = math.isqrt(int(values.max(initial=0))) + 2
    squares = np.arange(top, dtype=np.int64) ** 2
    return np.searchsorted(squares, values, side="right").astype(np.int64) - 1


def box_sum(a: np.ndarray, radius: int, axis: int) -> np.ndarray:
    """Sum over a window of 2·radius + 1 along one axis, edges repeated (int64, exact)."""
    pad = [(0, 0)] * a.ndim
    pad[axis] = (radius + 1, radius)
    c = np.cumsum(np.pad(a.astype(np.int64), pad, mode="edge"), axis=axis, dtype=np.int64)
    n = a.shape[axis]
    high = [slice(None)] * a.ndim
    low = [slice(None)] * a.ndim
    high[axis] = slice(2 * radius + 1, 2 * radius + 1 + n)
    low[axis] = slice(0, n)
    return c[tuple(high)] - c[tuple(low)]


def blur(a: np.ndarray, radius: int, passes: int = 1) -> np.ndarray:
    """Integer box blur of a 2D array (floor of the window mean), ``passes`` times (≈ Gaussian for 3)."""
    out = a.astype(np.int64)
    width = (2 * radius + 1) ** 2
    for _ in range(passes):
        out = box_sum(box_sum(out, radius, 0), radius, 1) // width
    return out


_PI = Fraction("3.14159265358979323846264338327950288419716939937510582097494459230781640628620899863")


def fixed_cos_sin(degrees: str | Fraction, bits: int = 20) -> tuple[int, int]:
    """round(cos · 2**bits), round(sin · 2**bits) of an angle given as decimal text (e.g. from an mdoc), with
    exact rational arithmetic: no floating point, hence no libm whose last digit differs between machines."""
    x = Fraction(degrees) * _PI / 180
    if abs(x) > 4:
        raise ValueError(f"angle {degrees} out of range")
    cos = sin = Fraction(0)
    term = Fraction(1)  # x**k / k!
    k = 0
    while True:
        if k % 4 == 0:
            cos += term
        elif k % 4 == 1:
            sin += term
        elif k % 4 == 2:
            cos -= term
        else:
            sin -= term
        k += 1
        term = term * x / k
        if abs(term) < Fraction(1, 1 << (bits + 40)):
            break
    out = []
    for value in (cos, sin):
        scaled = value * (1 << bits)
        nearest = round(scaled)
        if abs(abs(scaled - math.floor(scaled)) - Fraction(1, 2)) < Fraction(1, 1 << 30):
            raise ValueError(f"angle {degrees}: fixed-point rounding is ambiguous")  # never for real angles
        out.append(int(nearest))
    return out[0], out[1]


def _round_div(a: int, b: int) -> int:
    """round(a / b) for integers, b > 0, halves away from −∞ (exact)."""
    return (2 * a + b) // (2 * b)


# ---------------------------------------------------------------------------------------------------------------
# Projections of spheres: a sphere projects to a disc whatever the direction, with line integral
# 2·sqrt(R² − d²) at distance d from the projected centre. Objects are lists of (radius, density) layers whose
# line integrals add up, e.g. a shell is [(R_outer, ρ), (R_inner, −ρ)]. Units: quarter pixels.

Layers = Sequence[tuple[int, int]]


class DiscProjector:
    """Accumulates integer projections of layered spheres into an (ny, nx) image."""

    def __init__(self, ny: int, nx: int, max_radius4: int):
        self.ny, self.nx = ny, nx
        # Pixel centres in quarter pixels, image centre at 0.
        self.u4 = 4 * np.arange(nx, dtype=np.int64) + 2 - 2 * nx
        self.v4 = 4 * np.arange(ny, dtype=np.int64) + 2 - 2 * ny
        self.chord = 2 * isqrt(np.arange(max_radius4 * max_radius4 + 1, dtype=np.int64))  # 2·floor(sqrt(k))
        self.max_radius4 = max_radius4

    def add(self, image: np.ndarray, uc4: int, vc4: int, layers: Layers) -> None:
        outer = max(r for r, _ in layers)
        if outer > self.max_radius4:
            raise ValueError("radius larger than the projector's table")
        i0 = max(0, (uc4 - outer + 2 * self.nx - 2) // 4)
        i1 = min(self.nx, (uc4 + outer + 2 * self.nx - 2) // 4 + 2)
        j0 = max(0, (vc4 - outer + 2 * self.ny - 2) // 4)
        j1 = min(self.ny, (vc4 + outer + 2 * self.ny - 2) // 4 + 2)
        if i0 >= i1 or j0 >= j1:
            return
        du = self.u4[i0:i1] - uc4
        dv = self.v4[j0:j1] - vc4
        d2 = dv[:, None] ** 2 + du[None, :] ** 2
        patch = image[j0:j1, i0:i1]
        for radius4, density in layers:
            inside = np.clip(radius4 * radius4 - d2, 0, None)
            patch += density * self.chord[inside]


def _place(rng: Rng, count: int, tries: int, draw, gap) -> list[tuple[int, ...]]:
    """Random sequential placement: draw candidates, keep those that ``gap(a, b)`` says do not collide."""
    kept: list[tuple[int, ...]] = []
    for _ in range(tries):
        if len(kept) == count:
            break
        candidate = draw(rng)
        if all(gap(candidate, other) for other in kept):
            kept.append(candidate)
    return kept


# ---------------------------------------------------------------------------------------------------------------
# MRC output.


def _f32(value: Fraction | int) -> np.float32:
    """A header value as float32: exact rational → nearest double → nearest float32 (no platform dependence)."""
    return np.float32(float(Fraction(value)))


def _stats(sections: Iterable[np.ndarray], scale: int) -> tuple[Fraction, Fraction, Fraction, Fraction]:
    """min, max, mean and standard deviation (what MRC calls rms) of integer data divided by ``scale``, exactly.

    Row sums of squares stay far below 2**63 (values below 2**24, rows of at most 2**12); they are added up as
    Python ints.
    """
    n = total = squares = 0
    low = high = None
    for section in sections:
        s = section.astype(np.int64)
        if int(np.abs(s).max()) >= 1 << 24 or s.shape[-1] > 1 << 12:
            raise ValueError("values or rows too large for exact statistics")
        n += s.size
        total += sum(int(v) for v in s.sum(axis=-1).ravel().tolist())
        squares += sum(int(v) for v in (s * s).sum(axis=-1).ravel().tolist())
        lo, hi = int(s.min()), int(s.max())
        low = lo if low is None else min(low, lo)
        high = hi if high is None else max(high, hi)
    assert low is not None and high is not None
    variance_num = n * squares - total * total  # variance = variance_num / n², in integer units
    guard = 1 << 64
    std = Fraction(math.isqrt(variance_num * guard * guard), n * guard * scale)
    return Fraction(low, scale), Fraction(high, scale), Fraction(total, n * scale), std


_HEADER = struct.Struct("<10i6f3i3f2i8x4si84x3f4s4Bfi800s")
assert _HEADER.size == 1024


def _header_fields(shape: tuple[int, int, int], mode: int, voxel: tuple[Fraction, Fraction, Fraction],
                   stats: tuple[Fraction, Fraction, Fraction, Fraction]) -> dict[str, object]:
    nz, ny, nx = shape
    # An image stack (space group 0): mx, my = nx, ny and mz = 1, so the cell's z is one section's thickness.
    cell = (voxel[0] * nx, voxel[1] * ny, voxel[2])
    label = LABEL.encode("ascii").ljust(80)
    return {
        "nx": nx, "ny": ny, "nz": nz, "mode": mode, "start": (0, 0, 0), "m": (nx, ny, 1),
        "cella": tuple(_f32(c) for c in cell), "cellb": (np.float32(90),) * 3, "axes": (1, 2, 3),
        "stats": tuple(_f32(v) for v in stats), "ispg": 0, "nsymbt": 0, "exttyp": b"", "nversion": 20141,
        "origin": (np.float32(0),) * 3, "map": b"MAP ", "machst": (0x44, 0x44, 0, 0), "nlabl": 1,
        "labels": label + bytes(800 - len(label)),
    }


def _expected_header(f: dict) -> bytes:
    """The 1024 header bytes, packed independently of mrcfile (little-endian MRC2014)."""
    dmin, dmax, dmean, rms = f["stats"]
    return _HEADER.pack(f["nx"], f["ny"], f["nz"], f["mode"], *f["start"], *f["m"], *f["cella"], *f["cellb"],
                        *f["axes"], dmin, dmax, dmean, f["ispg"], f["nsymbt"], f["exttyp"], f["nversion"],
                        *f["origin"], f["map"], *f["machst"], rms, f["nlabl"], f["labels"])


def write_mrc(path: Path, data: np.ndarray, voxel: tuple[Fraction, Fraction, Fraction], *,
              ints: np.ndarray | None = None, scale: int = 1) -> Path:
    """Write a 3D image stack with mrcfile, with a header fixed field by field and exact statistics.

    ``data`` is little-endian int8, int16 or float32 (then ``ints`` are the integers it was made from and
    ``scale`` the power of two they were divided by).
    """
    if data.ndim != 3 or data.dtype.str not in ("|i1", "<i2", "<f4"):
        raise ValueError(f"expected a 3D little-endian int8, int16 or float32 stack, not {data.dtype.str}")
    source = data if ints is None else ints
    stats = _stats((source[k] for k in range(source.shape[0])), scale)
    mode = {"|i1": 0, "<i2": 1, "<f4": 2}[data.dtype.str]
    fields = _header_fields(data.shape, mode, voxel, stats)
    expected = _expected_header(fields)
    path.parent.mkdir(parents=True, exist_ok=True)
    with mrcfile.new(path, overwrite=True) as mrc:
        h = mrc.header
        h.ispg = 0  # before set_data: a 3D array then keeps space group 0 (image stack)
        mrc.set_data(data)
        if mrc.data.dtype.str != data.dtype.str or mrc.data.shape != data.shape:
            raise RuntimeError(f"mrcfile converted the data to {mrc.data.dtype.str} {mrc.data.shape}")
        # Every field, so that nothing depends on this mrcfile version's defaults (its first label holds the
        # time of day) or on its float statistics (set_data computed them; they are replaced, and mrcfile does
        # not compute them again when the file is closed: flush writes the header as it is).
        h.nx, h.ny, h.nz = fields["nx"], fields["ny"], fields["nz"]
        h.mode = fields["mode"]
        h.nxstart, h.nystart, h.nzstart = fields["start"]
        h.mx, h.my, h.mz = fields["m"]
        h.cella.x, h.cella.y, h.cella.z = fields["cella"]
        h.cellb.alpha, h.cellb.beta, h.cellb.gamma = fields["cellb"]
        h.mapc, h.mapr, h.maps = fields["axes"]
        h.dmin, h.dmax, h.dmean, h.rms = fields["stats"]
        h.ispg = fields["ispg"]
        h.nsymbt = fields["nsymbt"]
        h["extra1"] = np.zeros(8, np.uint8).view("V8")[0]
        h.exttyp = fields["exttyp"]
        h.nversion = fields["nversion"]
        h["extra2"] = np.zeros(84, np.uint8).view("V84")[0]
        h.origin.x, h.origin.y, h.origin.z = fields["origin"]
        h.map = fields["map"]
        h.machst = fields["machst"]
        h.nlabl = fields["nlabl"]
        for i in range(10):
            h.label[i] = fields["labels"][80 * i: 80 * i + 80]
        if mrc.extended_header.nbytes:
            raise RuntimeError("mrcfile created an extended header")
        if bytes(h.tobytes()) != expected:
            raise RuntimeError(f"{path}: the header mrcfile holds differs from the expected bytes")
    with open(path, "rb") as stream:
        written = stream.read(1024)
    if written != expected:
        raise RuntimeError(f"{path}: mrcfile wrote a header that differs from the expected bytes")
    if path.stat().st_size != 1024 + data.nbytes:
        raise RuntimeError(f"{path}: unexpected file size")
    return path


# ---------------------------------------------------------------------------------------------------------------
# a. Cryo-ET tilt series, as described by a SerialEM mdoc.

_ZVALUE = re.compile(r"^\[\s*ZValue\s*=\s*(\d+)\s*\]$")


def read_mdoc(path: Path) -> tuple[dict[str, str], list[dict[str, str]]]:
    """Global ``key = value`` pairs and the ``[ZValue = n]`` sections (in ZValue order) of a SerialEM mdoc, as
    text. Other bracketed lines (``[T = …]`` titles, other section kinds) are skipped."""
    globals_: dict[str, str] = {}
    sections: dict[int, dict[str, str]] = {}
    current: dict[str, str] | None = globals_
    for raw in path.read_bytes().decode("latin-1").splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("["):
            match = _ZVALUE.match(line)
            if match:
                current = sections.setdefault(int(match.group(1)), {})
            elif not line.startswith("[T"):
                current = None  # a section this reader does not use
            continue
        if "=" in line and current is not None:
            key, value = line.split("=", 1)
            current[key.strip()] = value.strip()
    if sorted(sections) != list(range(len(sections))):
        raise ValueError(f"{path}: ZValues are not 0 … n−1")
    return globals_, [sections[z] for z in range(len(sections))]


def tilt_series(mdoc: Path, out: Path) -> Path:
    """Write the tilt series ``mdoc`` describes to ``out``: int16 (mode 1) images of the mdoc's ImageSize, one per
    ``[ZValue]`` in ZValue order, projected at its TiltAngle (tilt axis along y) from a phantom of virus-like
    shells and 10 nm gold beads in a 150 nm slab, with noise; voxel size PixelSpacing in x, y and z."""
    head, sections = read_mdoc(mdoc)
    if head.get("DataMode", "1") != "1":
        raise ValueError(f"{mdoc}: DataMode {head['DataMode']}; only 1 (int16) is simulated")
    nx, ny = (int(v) for v in head["ImageSize"].split())
    pixel = Fraction(head["PixelSpacing"])  # Å, exact decimal
    angles = [s["TiltAngle"] for s in sections]

    def px4(angstrom: int) -> int:  # Å → quarter pixels
        return _round_div(4 * angstrom * pixel.denominator, pixel.numerator)

    half4 = px4(750)  # the slab: 150 nm thick, centred on z = 0
    rng = Rng("tilt-series/phantom")

    def draw_virus(r: Rng) -> tuple[int, ...]:
        radius = r.between(px4(540), px4(700))  # 108–140 nm diameter
        margin = half4 - radius
        return (r.between(-4 * 1000, 4 * 1000), r.between(-4 * 470, 4 * 470), r.between(-margin, margin), radius)

    def apart(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
        gap = a[3] + b[3] + 4 * 40  # at least 40 px between shells
        return (a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2 + (a[2] - b[2]) ** 2 >= gap * gap

    viruses = _place(rng, 24, 4000, draw_virus, apart)
    bead = px4(50)  # 10 nm gold

    def draw_bead(r: Rng) -> tuple[int, ...]:
        side = 1 if r.between(0, 1) else -1
        return (r.between(-4 * 900, 4 * 900), r.between(-4 * 470, 4 * 470), side * (half4 - bead), bead)

    beads = _place(rng, 18, 2000, draw_bead, lambda a, b: apart(a, b) and all(apart(a, v) for v in viruses))
    objects: list[tuple[int, int, int, Layers]] = []
    for x, y, z, radius in viruses:
        shell = radius * 13 // 100  # capsid ≈ 13 % of the radius
        core = radius - shell - 4 * 5  # genome, a little inside the capsid
        objects.append((x, y, z, [(radius, 3), (radius - shell, -3), (core, 1)]))
    objects += [(x, y, z, [(r, 40)]) for x, y, z, r in beads]

    projector = DiscProjector(ny, nx, max(r for *_, layers in objects for r, _ in layers))
    stack = np.empty((len(angles), ny, nx), dtype="<i2")
    one = 1 << 20
    for k, angle in enumerate(angles):
        c, s = fixed_cos_sin(angle)
        density = np.zeros((ny, nx), dtype=np.int64)
        for x, y, z, layers in objects:
            projector.add(density, (x * c + z * s + one // 2) >> 20, y, layers)
        # Mean intensity falls with the path through the slab, 1/cos(θ): 624 counts at 0°, 329 at 60°, as in
        # the real TS_01 (its MinMaxMean); noise ≈ 5.8·sqrt(mean), as there too.
        inverse_cos = (one * one + c // 2) // c
        mean = 624 - _round_div(295 * (inverse_cos - one), one)
        sigma = math.isqrt(34 * mean)
        contrast = blur(density, 1) * 5 // 32  # 3×3 low-pass, then ≈ 0.16 counts per density unit
        image = mean - contrast + gaussian_noise(f"tilt-series/noise/{k}", (ny, nx), sigma)
        stack[k] = np.clip(image, -32768, 32767)
    return write_mrc(out, stack, (pixel, pixel, pixel))


# ---------------------------------------------------------------------------------------------------------------
# b. Single-particle micrographs.

MICROGRAPH_PIXEL = Fraction("0.73")  # Å
MICROGRAPH_SIZE = 1024
MICROGRAPH_SCALE = 1 << 12  # float32 value = integer / 4096


def micrograph_names(n: int) -> list[str]:
    """EPU-like names: two shots per foil hole (two acquisition templates), 3 s apart, 41 s per hole."""
    names = []
    for k in range(n):
        hole, shot = divmod(k, 2)
        seconds = 10 * 3600 + 14 * 60 + 7 + 41 * hole + 3 * shot
        hhmmss = f"{seconds // 3600:02d}{seconds // 60 % 60:02d}{seconds % 60:02d}"
        names.append(f"FoilHole_{31008451 + 26 * hole}_Data_{31002087 + 7 * shot}_{12 + hole}_20240312_{hhmmss}.mrc")
    return names


def _micrograph(k: int) -> np.ndarray:
    """One micrograph as integers (value × 4096): apoferritin-like hollow spheres (12 nm, ~150 px) in ice."""
    size = MICROGRAPH_SIZE
    rng = Rng(f"micrographs/{k}/particles")

    def draw(r: Rng) -> tuple[int, ...]:
        radius = r.between(4 * 60, 4 * 85)  # 120–170 px diameter
        return (r.between(-4 * 560, 4 * 560), r.between(-4 * 560, 4 * 560), radius)

    def apart(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
        gap = (a[2] + b[2]) * 9 // 10  # slight overlaps, as particles at different depths in the ice
        return (a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2 >= gap * gap

    particles = _place(rng, 60, 3000, draw, apart)
    projector = DiscProjector(size, size, 4 * 85)
    density = np.zeros((size, size), dtype=np.int64)
    for x, y, radius in particles:
        projector.add(density, x, y, [(radius, 4), (radius * 2 // 3, -4)])  # 8 nm cavity in a 12 nm shell
    # CTF-like band pass: a dark core with a faint bright fringe (near-focus phase contrast).
    sharp, wide = blur(density, 2, 2), blur(density, 12, 2)
    contrast = (13 * sharp - 3 * wide) // 10
    noise = gaussian_noise(f"micrographs/{k}/noise", (size, size), 3 * MICROGRAPH_SCALE)
    # Band-passed noise: the "Thon ring" texture of thin ice.
    texture = gaussian_noise(f"micrographs/{k}/texture", (size, size), 6 * MICROGRAPH_SCALE)
    texture = blur(texture, 2, 2) - blur(texture, 5, 2)
    mean = 12 * MICROGRAPH_SCALE  # ≈ 12 e⁻/px in the motion-corrected sum
    image = mean - contrast * MICROGRAPH_SCALE // 700 + noise + texture
    return np.clip(image, -(1 << 23), (1 << 23) - 1)


def micrographs(out_dir: Path, n: int = 4) -> list[Path]:
    """Write ``n`` motion-corrected micrographs (float32, mode 2, 1024 × 1024, 0.73 Å) to ``out_dir``."""
    written = []
    for k, name in enumerate(micrograph_names(n)):
        ints = _micrograph(k)[None]
        data = ints.astype("<f4") * np.float32(1 / MICROGRAPH_SCALE)  # exact: |ints| < 2**24, power-of-two scale
        voxel = (MICROGRAPH_PIXEL,) * 3
        written.append(write_mrc(Path(out_dir) / name, data, voxel, ints=ints, scale=MICROGRAPH_SCALE))
    return written


# ---------------------------------------------------------------------------------------------------------------
# c. Serial block-face SEM stack.

SBF_SHAPE = (64, 256, 256)
SBF_Z = 5  # section thickness / pixel size: 40 nm / 8 nm


def smooth_profile(name: str, n: int, radius: int, amplitude: int) -> np.ndarray:
    """A smooth random 1D integer profile of length n with values in [−amplitude, amplitude] (blurred noise)."""
    p = gaussian_noise(name, (1, n + 6 * radius), 1 << 16)
    for _ in range(3):
        p = box_sum(p, radius, 1) // (2 * radius + 1)
    p = p[0, 3 * radius: 3 * radius + n]
    return p * amplitude // max(1, int(np.abs(p).max()))


def sbf_stack(out: Path) -> Path:
    """Write a serial block-face SEM stack to ``out``: 64 sections of 256 × 256, 8 nm pixels, 40 nm sections, mode 0.

    Tissue-like: 3D Voronoi cells, bent by a smooth displacement field, with bright cytoplasm of slightly
    different greys, dark membranes, nuclei with a double envelope, mitochondria and vesicles, all varying
    smoothly from section to section. Values are 0–127, so the bytes read the same as signed (MRC2014 mode 0)
    or unsigned (old IMOD) 8-bit integers.
    """
    nz, ny, nx = SBF_SHAPE
    rng = Rng("sbf/cells")
    depth = SBF_Z * nz  # in pixels (8 nm)

    def draw_seed(r: Rng) -> tuple[int, ...]:
        return (r.between(-40, nx + 40), r.between(-40, ny + 40), r.between(-40, depth + 40))

    def apart(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
        return sum((p - q) ** 2 for p, q in zip(a, b, strict=True)) >= 62 * 62

    seeds = _place(rng, 60, 5000, draw_seed, apart)
    grey = [rng.between(90, 116) for _ in seeds]
    # Organelles: (x, y, z, radius, kind), kind 0 nucleus, 1 mitochondrion, 2 vesicle; near their cell's seed.
    organelles: list[tuple[int, int, int, int, int]] = []
    for sx, sy, sz in seeds:
        if rng.between(0, 2) == 0:
            organelles.append((sx, sy, sz, rng.between(18, 25), 0))
            continue
        for _ in range(rng.between(2, 4)):
            organelles.append((sx + rng.between(-18, 18), sy + rng.between(-18, 18), sz + rng.between(-18, 18),
                               rng.between(6, 10), 1))
        for _ in range(rng.between(3, 8)):
            organelles.append((sx + rng.between(-24, 24), sy + rng.between(-24, 24), sz + rng.between(-24, 24),
                               rng.between(2, 4), 2))
    # Smooth displacement (quarter pixels, up to ±12 px) of the coordinates at which the Voronoi diagram is read:
    # products of smooth 1D profiles in x, y and z bend the cells' flat faces.
    amp = 64
    px = [smooth_profile(f"sbf/warp/x{i}", nx, 24, amp) for i in range(2)]
    py = [smooth_profile(f"sbf/warp/y{i}", ny, 24, amp) for i in range(2)]
    pz = [smooth_profile(f"sbf/warp/z{i}", depth, 24, amp) for i in range(4)]
    scale = amp * amp // 48  # amp² → 12 px = 48 quarter pixels
    x4 = 4 * np.arange(nx, dtype=np.int64) + 2
    y4 = 4 * np.arange(ny, dtype=np.int64) + 2
    xs = np.arange(nx, dtype=np.int64)
    ys = np.arange(ny, dtype=np.int64)
    lut = np.array(grey, dtype=np.int64)
    stack = np.empty(SBF_SHAPE, dtype="|i1")
    big = np.int64(1 << 40)
    for k in range(nz):
        zc = SBF_Z * k + SBF_Z // 2
        wx = x4[None, :] + (py[0][:, None] * pz[0][zc] + px[0][None, :] * pz[1][zc]) // scale
        wy = y4[:, None] + (px[1][None, :] * pz[2][zc] + py[1][:, None] * pz[3][zc]) // scale
        d1 = np.full((ny, nx), big)
        d2 = np.full((ny, nx), big)
        label = np.zeros((ny, nx), dtype=np.int64)
        for i, (sx, sy, sz) in enumerate(seeds):
            if abs(zc - sz) > 150:
                continue  # too far to be one of the two nearest seeds anywhere in this section
            d = (wy - 4 * sy) ** 2 + (wx - 4 * sx) ** 2 + (4 * (zc - sz)) ** 2
            nearer = d < d1
            d2 = np.where(nearer, d1, np.minimum(d2, d))
            d1 = np.where(nearer, d, d1)
            label = np.where(nearer, i, label)
        # Distance to the cell boundary ≈ (|p − s₂| − |p − s₁|) / 2, in quarter pixels.
        gap4 = isqrt(np.minimum(d2, 1 << 24)) - isqrt(d1)
        image = lut[label] - np.clip(12 - gap4, 0, None) * 6
        for ox, oy, oz, radius, kind in organelles:
            dz2 = (zc - oz) ** 2
            if dz2 >= radius * radius:
                continue
            r4 = math.isqrt(16 * (radius * radius - dz2))
            x0, x1 = max(0, ox - radius - 2), min(nx, ox + radius + 3)
            y0, y1 = max(0, oy - radius - 2), min(ny, oy + radius + 3)
            if x0 >= x1 or y0 >= y1:
                continue
            d4 = isqrt(16 * ((ys[y0:y1, None] - oy) ** 2 + (xs[None, x0:x1] - ox) ** 2))
            patch = image[y0:y1, x0:x1]
            rim = np.clip(6 - np.abs(d4 - r4), 0, None)
            if kind == 0:  # nucleus: slightly darker, with a double envelope
                patch -= np.where(d4 < r4, 14, 0) + rim * 8 + np.clip(6 - np.abs(d4 - r4 + 10), 0, None) * 6
            elif kind == 1:  # mitochondrion: dark, with a darker rim
                patch -= np.where(d4 < r4, 36, 0) + rim * 6
            else:  # vesicle: a dark ring
                patch -= rim * 9
        image += gaussian_noise(f"sbf/noise/{k}", (ny, nx), 12)
        stack[k] = np.clip(blur(image, 1), 0, 127)
    nm = Fraction(10)  # Å per nm
    return write_mrc(out, stack, (8 * nm, 8 * nm, 40 * nm))


# ---------------------------------------------------------------------------------------------------------------


def write_all(out_dir: Path, mdoc: Path = MDOC) -> list[Path]:
    """Every simulated example file, under ``out_dir``."""
    out_dir = Path(out_dir)
    paths = [tilt_series(mdoc, out_dir / read_mdoc(mdoc)[0].get("ImageFile", "TS_01.mrc"))]
    paths += micrographs(out_dir / "micrographs")
    paths.append(sbf_stack(out_dir / "sbf-sem_stack.mrc"))
    return paths


def main(argv: Sequence[str]) -> int:
    if len(argv) != 1:
        print("usage: python examples/simulate.py OUTDIR", file=sys.stderr)
        return 2
    for path in write_all(Path(argv[0])):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
