"""Random numbers keyed by the decision they make (common random numbers that stay in step).

Every random decision of a run draws from a stream named by what it decides: the process
(``"membership"``, ``"broker"``, ...), then the month and the entity (a firm, a CMO, a call,
a lead firm, a slot). Streams are derived from the run's root ``SeedSequence(seed,
spawn_key=(replication,))`` by hashing, so the same decision of the same firm in the same
month gets the same numbers in every arm of a paired comparison, whatever else happened in
the run, and reading or measuring state never draws.

Two kinds of draws are offered by a :class:`Stream`:

* counter-based uniforms: the ``j``-th uniform of a stream is a fixed function of the
  stream's key and ``j`` (SplitMix64, Steele, Lea and Flood 2014, *OOPSLA*: a 64-bit Weyl
  sequence through a bijective mixing function), so any position can be read directly,
  and ``at(ids)`` gives entity ``i`` the uniform at position ``i`` whichever subset of
  entities is asked for;
* a NumPy generator on Philox (Salmon et al. 2011, *SC'11*), keyed by the stream's key,
  for whole-population draws whose layout does not depend on the state (a binomial count,
  a sample of firms, one normal per firm).

Also here: the small exact samplers used with counter-based uniforms (Poisson by
inversion, a normal by the inverse CDF, sampling without replacement by a partial
Fisher-Yates shuffle).
"""

from __future__ import annotations

import hashlib
import math
from bisect import bisect_right
from statistics import NormalDist

import numpy as np

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15  # 2^64 / golden ratio, the Weyl increment of SplitMix64
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB
_TWO_M53 = 1.0 / (1 << 53)
_STANDARD_NORMAL = NormalDist()
_new_object = object.__new__
_VECTOR_FROM = 24  # below this many numbers, plain Python beats NumPy's call overhead
_AHEAD_MONTHS = 144  # months of entities' streams worked out at once (Streams.entities_ahead): a Piedmont run

# The same constants as NumPy scalars, made once: array arithmetic on uint64 wraps modulo
# 2^64 without a warning (only NumPy *scalar* arithmetic warns on overflow).
_U1, _U11, _U27, _U30, _U31 = (np.uint64(x) for x in (1, 11, 27, 30, 31))
_U_GOLDEN, _U_M1, _U_M2 = np.uint64(GOLDEN), np.uint64(_M1), np.uint64(_M2)

type Part = int | str
type SeedLike = int | np.random.SeedSequence


def mix64(z: int) -> int:
    """The SplitMix64 finalizer: a bijection of 64-bit integers with full avalanche."""
    z &= MASK64
    z = ((z ^ (z >> 30)) * _M1) & MASK64
    z = ((z ^ (z >> 27)) * _M2) & MASK64
    return z ^ (z >> 31)


_NAME_IDS: dict[str, int] = {}


def part_id(part: Part) -> int:
    """A stable 64-bit number for a stream name part (a string is hashed, an int kept)."""
    if isinstance(part, str):
        code = _NAME_IDS.get(part)
        if code is None:
            code = int.from_bytes(hashlib.blake2b(part.encode(), digest_size=8).digest(), "little")
            _NAME_IDS[part] = code
        return code
    return int(part) & MASK64


_PART_MIX: dict[Part, int] = {}
_PART_MIX_MAX = 1 << 20  # a bound on the cache (ints such as firm ids are many in the whole region)


def part_mix(part: Part) -> int:
    """``mix64(part_id(part) + GOLDEN)``: what :meth:`Stream.child` mixes in for ``part`` (cached)."""
    m = _PART_MIX.get(part)
    if m is None:
        z = (part_id(part) + GOLDEN) & MASK64
        z = ((z ^ (z >> 30)) * _M1) & MASK64
        z = ((z ^ (z >> 27)) * _M2) & MASK64
        m = z ^ (z >> 31)
        if len(_PART_MIX) < _PART_MIX_MAX:
            _PART_MIX[part] = m
    return m


def child_keys(keys: np.ndarray, part: Part) -> np.ndarray:
    """:meth:`Stream.child` of many streams at once: the keys of ``Stream(k).child(part)`` for ``k`` in ``keys``."""
    z = np.array(keys, dtype=np.uint64)  # a copy, mixed in place
    z ^= np.uint64(part_mix(part))
    return _mix_vec(z)


def child_keys_of(key: int, parts: np.ndarray) -> np.ndarray:
    """The keys of ``Stream(key).child(p)`` for many integer parts ``p`` (e.g. firm ids) at once."""
    z = np.asarray(parts).astype(np.uint64)  # a copy, mixed in place
    z += _U_GOLDEN
    _mix_vec(z)
    z ^= np.uint64(key & MASK64)
    return _mix_vec(z)


def child_key_table(keys: list[int], parts: list[Part]) -> np.ndarray:
    """The keys of ``Stream(k).child(p)`` for ``k`` in ``keys`` (rows) and ``p`` in ``parts`` (columns)."""
    mixes = np.array([part_mix(p) for p in parts], dtype=np.uint64)
    return _mix_vec(np.bitwise_xor.outer(np.array(keys, dtype=np.uint64), mixes))


def philox_keys(keys: np.ndarray) -> list[tuple[int, int]]:
    """:meth:`Stream.philox_key` of many streams at once: the Philox key words of ``Stream(k)`` for ``k`` in ``keys``.

    The same words: where exactly one word is at least 2^63 both are rounded to float64
    (as NumPy rounds a uint64, to nearest) and back; a word rounded up to 2^64 (rare) is
    left to :meth:`Stream.philox_key`.
    """
    a = np.array(keys, dtype=np.uint64)  # a copy
    b = a ^ _U_GOLDEN
    _mix_vec(b)
    mixed = ((a ^ b) >> np.uint64(63)).astype(bool)  # one word >= 2^63, the other not: the float64 list
    af, bf = a[mixed].astype(np.float64), b[mixed].astype(np.float64)
    top = 18446744073709551616.0  # 2^64
    fits = (af < top) & (bf < top)
    rows = np.flatnonzero(mixed)
    a[rows[fits]] = af[fits].astype(np.uint64)
    b[rows[fits]] = bf[fits].astype(np.uint64)
    out = list(zip(a.tolist(), b.tolist(), strict=True))
    for i in rows[~fits].tolist():
        out[i] = Stream(int(keys[i])).philox_key()
    return out


def uniforms_at(keys: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Uniforms of many streams: ``Stream(keys[i]).uniform(positions[j])`` at ``[i, j]``."""
    steps = np.asarray(positions).astype(np.uint64)  # (j + 1) * GOLDEN, a copy made in place
    steps += _U1
    steps *= _U_GOLDEN
    z = np.add.outer(np.asarray(keys, dtype=np.uint64), steps)
    return _to_unit(_mix_vec(z))


def _mix_vec(z: np.ndarray) -> np.ndarray:
    """:func:`mix64` on an array of uint64, in place (wrapping arithmetic)."""
    t = z >> _U30
    z ^= t
    z *= _U_M1
    np.right_shift(z, _U27, out=t)
    z ^= t
    z *= _U_M2
    np.right_shift(z, _U31, out=t)
    z ^= t
    return z


def _to_unit(z: np.ndarray) -> np.ndarray:
    """The uniforms ``(z >> 11) * 2**-53`` of mixed uint64 ``z`` (``z`` is shifted in place)."""
    z >>= _U11
    return np.multiply(z, _TWO_M53)  # exact: the 53-bit integer converts to float64 exactly


class Stream:
    """The random numbers of one decision (or family of decisions), named by its key.

    The ``j``-th uniform is ``(mix64(key + (j + 1) * GOLDEN) >> 11) * 2**-53``: position
    ``j`` of the SplitMix64 sequence seeded with ``key``.
    """

    __slots__ = ("key",)

    def __init__(self, key: int) -> None:
        """A stream with 64-bit ``key``."""
        self.key = key & MASK64

    def child(self, *parts: Part) -> Stream:
        """The stream of a sub-decision, named by ``parts`` (order matters)."""
        k = self.key
        for p in parts:
            m = _PART_MIX.get(p)  # part_mix(p), its cache read here
            if m is None:
                m = part_mix(p)
            z = k ^ m  # mix64(k ^ mix64(part_id(p) + GOLDEN)), inlined
            z = ((z ^ (z >> 30)) * _M1) & MASK64
            z = ((z ^ (z >> 27)) * _M2) & MASK64
            k = z ^ (z >> 31)
        child = _new_object(Stream)  # Stream(k) without __init__: k is 64-bit already
        child.key = k
        return child

    def uniform(self, position: int = 0) -> float:
        """The uniform in [0, 1) at ``position``."""
        z = (self.key + (position + 1) * GOLDEN) & MASK64
        z = ((z ^ (z >> 30)) * _M1) & MASK64
        z = ((z ^ (z >> 27)) * _M2) & MASK64
        return ((z ^ (z >> 31)) >> 11) * _TWO_M53

    def uniform_list(self, n: int, start: int = 0) -> list[float]:
        """The uniforms at positions ``start .. start + n - 1`` as a Python list (for loops)."""
        if n == 1:  # the most common request: one number
            return [self.uniform(start)]
        if n > _VECTOR_FROM:
            return self.uniforms(n, start).tolist()
        out = []
        z0 = self.key + (start + 1) * GOLDEN
        for j in range(n):
            z = (z0 + j * GOLDEN) & MASK64
            z = ((z ^ (z >> 30)) * _M1) & MASK64
            z = ((z ^ (z >> 27)) * _M2) & MASK64
            out.append(((z ^ (z >> 31)) >> 11) * _TWO_M53)
        return out

    def uniforms(self, n: int, start: int = 0) -> np.ndarray:
        """The uniforms at positions ``start .. start + n - 1`` (float64 in [0, 1))."""
        if n <= _VECTOR_FROM:
            return np.array(self.uniform_list(n, start), dtype=np.float64)
        return self.at(np.arange(start, start + n, dtype=np.uint64))

    def at(self, positions: np.ndarray) -> np.ndarray:
        """The uniforms at the given positions (e.g. firm indices: one number per firm)."""
        z = np.asarray(positions).astype(np.uint64)  # a copy, mixed in place
        z += _U1
        z *= _U_GOLDEN
        z += np.uint64(self.key)
        return _to_unit(_mix_vec(z))

    def generator(self) -> np.random.Generator:
        """A NumPy generator (Philox) keyed by this stream, for whole-population draws."""
        return np.random.Generator(np.random.Philox(key=[self.key, mix64(self.key ^ GOLDEN)]))

    def philox_key(self) -> tuple[int, int]:
        """The two 64-bit words of :meth:`generator`'s Philox key, as Philox reads ``[a, b]``.

        ``Philox(key=[a, b])`` reads the list through ``np.asarray``: when exactly one word
        is at least 2^63 the list becomes float64, so both words are rounded to 53
        significant bits (and a word rounded up to 2^64 becomes 0). The key is that, as it
        always was (the same numbers); computed here with Python floats, NumPy only for 2^64.
        """
        a = self.key
        b = mix64(a ^ GOLDEN)
        if (a ^ b) >> 63:  # one word >= 2^63, the other not: the float64 list
            ra, rb = int(float(a)), int(float(b))
            if ra > MASK64 or rb > MASK64:
                ra, rb = (int(x) for x in np.asarray([a, b]).astype(np.uint64))
            return ra, rb
        return a, b

    def philox_state(self) -> dict:
        """The state of :meth:`generator`'s bit generator when fresh (its key as Philox reads ``[a, b]``)."""
        return {
            "bit_generator": "Philox",
            "state": {"counter": np.zeros(4, dtype=np.uint64), "key": np.array(self.philox_key(), dtype=np.uint64)},
            "buffer": np.zeros(4, dtype=np.uint64),
            "buffer_pos": 4,
            "has_uint32": 0,
            "uinteger": 0,
        }


class _EntitiesBlock:
    """The numbers of :meth:`Streams.entities_ahead` for a run of months (arrays by month, then entity)."""

    __slots__ = ("blocks", "child_keys", "children", "first", "keys", "n")

    def __init__(self, keys: np.ndarray, first: list[list[float]], blocks: tuple, children: tuple, n: int) -> None:
        """Keys (months, entities), uniforms 0 (nested lists), the children's first ``n`` (months, entities, n)."""
        self.keys, self.first, self.blocks, self.children, self.n = keys, first, blocks, children, n
        self.child_keys: dict[Part, list[list[int]]] = {}  # EntitiesMonth.child_stream's keys, by part


class EntitiesMonth:
    """One month of :meth:`Streams.entities_ahead`: the entities' keys and leading uniforms."""

    __slots__ = ("_a", "_block", "first")

    def __init__(self, block: _EntitiesBlock, a: int) -> None:
        """Month ``a`` of ``block``; ``first[b]``: entity ``b``'s uniform at position 0."""
        self._block, self._a, self.first = block, a, block.first[a]

    def key(self, b: int) -> int:
        """Entity ``b``'s key this month."""
        return int(self._block.keys[self._a, b])

    def child_stream(self, b: int, part: Part) -> Stream:
        """Entity ``b``'s child stream ``part``, ``Stream(self.key(b)).child(part)``.

        The keys of that child of every month and entity of the block are worked out at
        once (:func:`child_keys`) the first time a part is asked for, and kept.
        """
        block = self._block
        keys = block.child_keys.get(part)
        if keys is None:
            keys = block.child_keys[part] = child_keys(block.keys.ravel(), part).reshape(block.keys.shape).tolist()
        child = _new_object(Stream)  # Stream(key) without __init__: the key is 64-bit already
        child.key = keys[self._a][b]
        return child

    def child_uniforms(self, b: int, c: int, k: int) -> list[float]:
        """The first ``k`` uniforms of entity ``b``'s child stream ``children[c]`` (a list)."""
        block = self._block
        if k <= block.n:
            return block.blocks[c][self._a, b, :k].tolist()
        return Stream(self.key(b)).child(block.children[c]).uniform_list(k)


class Streams:
    """The root of a run's keyed streams: ``streams.stream("membership", month)``.

    Built from the run's root :class:`numpy.random.SeedSequence`; two runs with the same
    root give the same numbers for the same named decision.
    """

    def __init__(self, seed_sequence: np.random.SeedSequence) -> None:
        """Derive the root key from ``seed_sequence`` (128 bits folded to 64)."""
        a, b = (int(x) for x in seed_sequence.generate_state(2, np.uint64))
        self.seed_sequence = seed_sequence
        self.root = Stream(mix64(a ^ mix64(b)))
        self._processes: dict[str, Stream] = {}
        self._firsts: dict[tuple[str, Part], Stream] = {}
        self._shared: np.random.Generator | None = None
        self._fresh: dict = {}
        self._ahead: dict[tuple, tuple[int, list[Part], dict[Part, int], _EntitiesBlock]] = {}
        self._keys_ahead: dict[str, tuple[int, list[tuple[int, int]]]] = {}

    def stream(self, process: str, *parts: Part) -> Stream:
        """The stream of ``process`` for ``parts`` (month, entity, ...)."""
        base = self._processes.get(process)
        if base is None:
            base = self._processes[process] = self.root.child(process)
        if not parts:
            return base
        first = self._firsts.get((process, parts[0]))  # (process, month) is asked for by every CMO
        if first is None:
            first = base.child(parts[0])
            if len(self._firsts) < 1 << 16:
                self._firsts[(process, parts[0])] = first
        return first.child(*parts[1:]) if len(parts) > 1 else first

    def entities_ahead(
        self, process: str, month: int, ids: list[Part], until: int, children: tuple[Part, ...] = (), n: int = 0
    ) -> tuple[dict[Part, int], EntitiesMonth]:
        """The streams ``stream(process, month, id)`` of several entities (e.g. CMOs), drawn ahead.

        Returns the position of each id and the month's :class:`EntitiesMonth`: each entity's
        key, its uniform at position 0 and, for each of ``children``, the first ``n``
        uniforms of its child stream (further ones: ``Stream(key).child(part)``). The
        numbers of up to ``_AHEAD_MONTHS`` months (to ``until``, excluded) are worked out at once
        and kept; a month or an id not among them works them out anew from this month. The
        same numbers as the streams give one by one (a pure function of the keys).
        """
        entry = self._ahead.get((process, children, n))
        if entry is not None:
            start, parts, index, block = entry
            a = month - start
            if 0 <= a < len(block.first) and (ids == parts or all(i in index for i in ids)):
                return index, EntitiesMonth(block, a)
        span = np.arange(month, max(month + 1, min(month + _AHEAD_MONTHS, until)))
        parts = list(dict.fromkeys(ids))
        months = child_keys_of(self.stream(process).key, span)  # stream(process, m) of each month m
        keys = child_key_table(months.tolist(), parts)  # (months, ids)
        flat = keys.ravel()
        first = uniforms_at(flat, np.zeros(1, dtype=np.uint64)).reshape(keys.shape).tolist()
        blocks = tuple(uniforms_at(child_keys(flat, c), np.arange(n)).reshape(*keys.shape, n) for c in children)
        block = _EntitiesBlock(keys, first, blocks, children, n)
        index = {sid: b for b, sid in enumerate(parts)}
        self._ahead[(process, children, n)] = (month, list(ids), index, block)
        return index, EntitiesMonth(block, 0)

    def generator(self, process: str, *parts: Part) -> np.random.Generator:
        """A keyed NumPy generator for ``process`` and ``parts``."""
        return self.stream(process, *parts).generator()

    def draws(self, process: str, *parts: Part) -> np.random.Generator:
        """The same numbers as :meth:`generator`, from one generator of this run re-keyed (no new object).

        Cheaper for the monthly processes, but valid only until the next call: use it at
        once, never keep it (Mesa's ``model.rng`` comes from :meth:`generator`). For one
        integer part (a month), the Philox keys of ``_AHEAD_MONTHS`` months from it are worked
        out at once (:func:`philox_keys`) and kept.
        """
        if self._shared is None:
            self._shared = np.random.Generator(np.random.Philox(key=[1, 2]))
            # philox_state() with plain ints (the setter copies them into the bit generator)
            self._fresh = {
                "bit_generator": "Philox",
                "state": {"counter": (0, 0, 0, 0), "key": (0, 0)},
                "buffer": (0, 0, 0, 0),
                "buffer_pos": 4,
                "has_uint32": 0,
                "uinteger": 0,
            }
        if len(parts) == 1 and type(parts[0]) is int:
            month = parts[0]
            ahead = self._keys_ahead.get(process)
            if ahead is None or not 0 <= month - ahead[0] < len(ahead[1]):
                span = np.arange(month, month + _AHEAD_MONTHS)
                ahead = (month, philox_keys(child_keys_of(self.stream(process).key, span)))
                self._keys_ahead[process] = ahead
            key = ahead[1][month - ahead[0]]
        else:
            key = self.stream(process, *parts).philox_key()
        self._fresh["state"]["key"] = key
        self._shared.bit_generator.state = self._fresh
        return self._shared


def seed_sequence(root_seed: int, replication: int, stream: int | None = None) -> np.random.SeedSequence:
    """Child ``replication`` of the root ``SeedSequence(root_seed)``.

    Equal to ``SeedSequence(root_seed).spawn(replication + 1)[replication]`` without
    spawning the children before it. With ``stream``, the grandchild ``stream`` of that
    child (independent arms, ``comparison.pairing = independent``).
    """
    key = (replication,) if stream is None else (replication, stream)
    return np.random.SeedSequence(root_seed, spawn_key=key)


# ----------------------------------------------------------------- exact samplers
def normal(u: float) -> float:
    """A standard normal from one uniform by the inverse CDF (``u`` in [0, 1))."""
    return _STANDARD_NORMAL.inv_cdf(min(max(u, 1e-300), 1.0 - 2.0**-53))


_POISSON_CDF: dict[float, tuple[list[float], int]] = {}
_POISSON_CDF_MAX = 1 << 12  # a bound on the cache (a rate is a count times a parameter: few distinct ones)


def _poisson_cdf(lam: float) -> tuple[list[float], int]:
    """The partial sums of the inversion in :func:`poisson` for ``lam``, and the first ``k`` whose term is 0.

    The same float operations in the same order as the loop, so the same sums to the bit.
    """
    p = math.exp(-lam)
    cdf = p
    sums = [cdf]
    k = 0
    while p > 0.0:
        k += 1
        p *= lam / k
        cdf += p
        sums.append(cdf)
    return sums, k


def poisson(u: float, lam: float) -> int:
    """A Poisson(``lam``) count from one uniform by inversion of the CDF (exact).

    The smallest ``k`` with ``u`` below the partial sum ``P(0) + ... + P(k)``, or the first
    ``k`` whose term underflows to 0 (the sums of each rate are worked out once and kept).
    """
    if lam <= 0.0:
        return 0
    if lam > 500.0:  # exp(-lam) underflows: invert the CDF with scipy (rare, slower)
        from scipy.stats import poisson as _poisson

        return int(_poisson.ppf(u, lam))
    table = _POISSON_CDF.get(lam)
    if table is None:
        table = _poisson_cdf(lam)
        if len(_POISSON_CDF) < _POISSON_CDF_MAX:
            _POISSON_CDF[lam] = table
    sums, last = table
    if u < sums[0]:  # the most common count with a small rate: 0
        return 0
    k = bisect_right(sums, u)  # the first partial sum above u (they never decrease)
    return k if k < last else last


def sample_without_replacement(us: np.ndarray | list[float], n: int) -> list[int]:
    """``len(us)`` distinct indices of ``range(n)``, uniformly, by a partial Fisher-Yates shuffle."""
    k = len(us)
    if k > n:
        raise ValueError(f"cannot draw {k} distinct items from {n}")
    swapped: dict[int, int] = {}
    out = []
    for i, u in enumerate(us):
        j = i + int(u * (n - i))
        out.append(swapped.get(j, j))
        swapped[j] = swapped.get(i, i)
    return out


def order_by(stream: Stream, ids: np.ndarray) -> np.ndarray:
    """``ids`` in a random order keyed by the ids themselves (the same order in every arm)."""
    ids = np.asarray(ids)
    return ids[np.argsort(stream.at(ids), kind="stable")]
