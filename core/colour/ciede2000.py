"""CIEDE2000 colour difference (kL = kC = kH = 1), after Sharma, Wu & Dalal (2005).

`ciede2000` works on broadcastable CIELAB arrays and keeps float32 inputs in float32, so the
recommender can score many colours in one pass; `ciede2000_scalar` is the textbook formula on plain
floats, kept for the benchmark's per-pair baseline and as an independent check in the tests.

The vectorised version avoids the per-colour hue angles of the textbook formula, which cost two
arctangents and several branchy `where`s per pair:
- ΔH' comes from the a'b' plane, ΔH'² = Δa'² + Δb² − ΔC'², signed by the cross product of the two
  colours (the sign of sin Δh');
- the mean hue h̄' is the direction of the bisector of the two hue directions, which is exactly the
  textbook's "mean along the shorter arc"; hues exactly 180° apart (Sharma's pair 10) have no
  bisector and follow the textbook rule, h̄' = the hue in [0°, 180°) + 90°.
When one colour is achromatic ΔH' is 0, so h̄' (which only scales ΔH') does not matter there.
"""

from __future__ import annotations

import math

import numpy as np

_K7 = 128 * 25.0**7  # (2 * 25)^7: G and R_C are written with the sum of the two chromas, not their mean
_DEG = 180 / math.pi
_HUE_TOL = 1e-9  # degrees


def _float_dtype(*arrays: np.ndarray) -> np.dtype:
    dtype = np.result_type(*arrays)
    return dtype if dtype in (np.float32, np.float64) else np.dtype(np.float64)


def ciede2000(lab1: np.ndarray | list | tuple, lab2: np.ndarray | list | tuple) -> np.ndarray:
    """ΔE00 between CIELAB colours (..., 3) and (..., 3), broadcast against each other.

    float32 in gives float32 out (rounding of about 1e-2 ΔE at worst, worse only for hues within a
    hair of 180° apart, where CIEDE2000 itself is discontinuous); anything else computes in float64.
    """
    lab1 = np.asarray(lab1)
    lab2 = np.asarray(lab2)
    if lab1.shape[-1:] != (3,) or lab2.shape[-1:] != (3,):
        raise ValueError(f"CIELAB arrays need a last axis of 3, got shapes {lab1.shape} and {lab2.shape}")
    dtype = _float_dtype(lab1, lab2)
    lab1 = lab1.astype(dtype, copy=False)
    lab2 = lab2.astype(dtype, copy=False)
    return ciede2000_components(
        lab1[..., 0], lab1[..., 1], lab1[..., 2], lab2[..., 0], lab2[..., 1], lab2[..., 2]
    )


def _seventh_power(x: np.ndarray) -> np.ndarray:
    """x**7 by multiplication into one new array (faster than np.power on the hot path)."""
    out = x * x
    out *= out
    out *= x * x
    out *= x
    return out


def ciede2000_components(
    L1: np.ndarray, a1: np.ndarray, b1: np.ndarray, L2: np.ndarray, a2: np.ndarray, b2: np.ndarray
) -> np.ndarray:
    """ΔE00 from separate, broadcastable L, a, b arrays of one float dtype (the fast path)."""
    if np.broadcast_shapes(*(np.shape(v) for v in (L1, a1, b1, L2, a2, b2))) == ():
        # In-place steps need arrays, not numpy scalars.
        one = [np.reshape(v, (1,)) for v in (L1, a1, b1, L2, a2, b2)]
        return ciede2000_components(*one).reshape(())
    f = np.result_type(L1, a1, b1, L2, a2, b2).type
    csum = np.sqrt(a1 * a1 + b1 * b1) + np.sqrt(a2 * a2 + b2 * b2)
    c7 = _seventh_power(csum)
    g = c7 / (c7 + f(_K7))
    np.sqrt(g, out=g)
    g *= f(-0.5)
    g += f(1.5)  # 1 + G
    a1p = a1 * g
    a2p = a2 * g
    c1p = np.sqrt(a1p * a1p + b1 * b1)
    c2p = np.sqrt(a2p * a2p + b2 * b2)

    d_c = c2p - c1p
    da = a2p - a1p
    db = b2 - b1
    d_h = da * da
    d_h += db * db
    d_h -= d_c * d_c
    np.maximum(d_h, f(0), out=d_h)
    np.sqrt(d_h, out=d_h)
    cross = a1p * b2
    cross -= b1 * a2p
    cross += f(0)  # turns -0.0 into +0.0
    np.copysign(d_h, cross, out=d_h)  # +0 cross (equal or opposite hues) keeps ΔH' positive, as Δh' = +180°

    # Mean hue: direction of c2'·(a1', b1) + c1'·(a2', b2), the sum of the two unit hue vectors scaled.
    sx = c2p * a1p
    sx += c1p * a2p
    sy = c2p * b1
    sy += c1p * b2
    h = np.arctan2(sy, sx)
    opposite = sx == 0
    if opposite.any():
        _fix_opposite_hues(h, d_h, opposite, sy, a1p, b1, a2p, b2, c1p, c2p)
    h += f(2 * math.pi) * (h < 0)  # [0, 2π), the textbook's range for h̄'

    cp_sum = c1p + c2p
    t = np.cos(h - f(math.radians(30)))
    t *= f(-0.17)
    t += f(1.0)
    t += f(0.24) * np.cos(f(2) * h)
    t += f(0.32) * np.cos(f(3) * h + f(math.radians(6)))
    t -= f(0.20) * np.cos(f(4) * h - f(math.radians(63)))
    s_h = cp_sum * t
    s_h *= f(0.0075)
    s_h += f(1)
    d_h /= s_h

    # R_T = -sin(2Δθ)·R_C with Δθ = 30°·exp(-((h̄' - 275°)/25°)²)
    r_t = h - f(math.radians(275))
    r_t *= f(_DEG / 25)
    r_t *= r_t
    np.negative(r_t, out=r_t)
    np.exp(r_t, out=r_t)
    r_t *= f(math.radians(60))
    np.sin(r_t, out=r_t)
    c7 = _seventh_power(cp_sum)
    r_c = c7 / (c7 + f(_K7))
    np.sqrt(r_c, out=r_c)
    r_t *= r_c
    r_t *= f(-2)

    s_c = cp_sum * f(0.0225)
    s_c += f(1)
    d_c /= s_c
    l50 = L1 + L2
    l50 -= f(100)
    l50 *= l50  # 4·(L̄' - 50)²
    s_l = l50 + f(80)
    np.sqrt(s_l, out=s_l)
    np.divide(l50, s_l, out=s_l)
    s_l *= f(0.0075)
    s_l += f(1)
    d_l = L2 - L1
    d_l /= s_l

    out = d_l * d_l
    out += d_c * d_c
    out += d_h * d_h
    r_t *= d_c
    r_t *= d_h
    out += r_t
    np.maximum(out, f(0), out=out)
    return np.sqrt(out, out=out)


def _fix_opposite_hues(
    h: np.ndarray,
    d_h: np.ndarray,
    candidates: np.ndarray,
    sy: np.ndarray,
    a1p: np.ndarray,
    b1: np.ndarray,
    a2p: np.ndarray,
    b2: np.ndarray,
    c1p: np.ndarray,
    c2p: np.ndarray,
) -> None:
    """Hues exactly 180° apart, by the textbook's rules: h̄' = (the hue in [0°, 180°)) + 90°, and
    Δh' = h2' - h1' is +180° when the first colour has the lower hue, else -180°."""
    shape = h.shape
    sel = candidates & (np.broadcast_to(sy, shape) == 0)
    sel &= np.broadcast_to(c1p, shape) * np.broadcast_to(c2p, shape) != 0
    if not sel.any():
        return
    x1, y1 = np.broadcast_to(a1p, shape)[sel], np.broadcast_to(b1, shape)[sel]
    x2, y2 = np.broadcast_to(a2p, shape)[sel], np.broadcast_to(b2, shape)[sel]
    first_low = (y1 > 0) | ((y1 == 0) & (x1 > 0))
    x = np.where(first_low, x1, x2)
    y = np.where(first_low, y1, y2)
    h[sel] = np.arctan2(x, -y)  # the low hue's direction turned by +90°
    if d_h.shape == shape:
        d_h[sel] = np.where(first_low, 1, -1) * np.abs(d_h[sel])


def ciede2000_scalar(lab1: tuple[float, float, float], lab2: tuple[float, float, float]) -> float:
    """ΔE00 for one pair of CIELAB colours, the textbook way, with the math module only."""
    L1, a1, b1 = (float(v) for v in lab1)
    L2, a2, b2 = (float(v) for v in lab2)
    c_mean = (math.hypot(a1, b1) + math.hypot(a2, b2)) / 2
    g = 0.5 * (1 - math.sqrt(c_mean**7 / (c_mean**7 + 25.0**7)))
    a1p, a2p = a1 * (1 + g), a2 * (1 + g)
    c1p, c2p = math.hypot(a1p, b1), math.hypot(a2p, b2)
    h1p = math.degrees(math.atan2(b1, a1p)) % 360
    h2p = math.degrees(math.atan2(b2, a2p)) % 360

    # Hues 180° apart count as exactly 180° despite rounding in the degree arithmetic.
    if c1p * c2p == 0:
        dh = 0.0
    else:
        dh = h2p - h1p
        if dh > 180 + _HUE_TOL:
            dh -= 360
        elif dh < -180 - _HUE_TOL:
            dh += 360
    d_l = L2 - L1
    d_c = c2p - c1p
    d_h = 2 * math.sqrt(c1p * c2p) * math.sin(math.radians(dh / 2))

    l_mean = (L1 + L2) / 2
    cp_mean = (c1p + c2p) / 2
    if c1p * c2p == 0:
        h_mean = h1p + h2p
    elif abs(h1p - h2p) <= 180 + _HUE_TOL:
        h_mean = (h1p + h2p) / 2
    elif h1p + h2p < 360:
        h_mean = (h1p + h2p + 360) / 2
    else:
        h_mean = (h1p + h2p - 360) / 2

    t = (
        1
        - 0.17 * math.cos(math.radians(h_mean - 30))
        + 0.24 * math.cos(math.radians(2 * h_mean))
        + 0.32 * math.cos(math.radians(3 * h_mean + 6))
        - 0.20 * math.cos(math.radians(4 * h_mean - 63))
    )
    d_theta = 30 * math.exp(-(((h_mean - 275) / 25) ** 2))
    r_c = 2 * math.sqrt(cp_mean**7 / (cp_mean**7 + 25.0**7))
    s_l = 1 + 0.015 * (l_mean - 50) ** 2 / math.sqrt(20 + (l_mean - 50) ** 2)
    s_c = 1 + 0.045 * cp_mean
    s_h = 1 + 0.015 * cp_mean * t
    r_t = -math.sin(math.radians(2 * d_theta)) * r_c
    tl, tc, th = d_l / s_l, d_c / s_c, d_h / s_h
    return math.sqrt(tl * tl + tc * tc + th * th + r_t * tc * th)
