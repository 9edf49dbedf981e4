"""A seeded procedural knee: sagittal proton-density-like slices with a tissue label map.

No registry ships knee MRI, so the anatomy is our own: signed-distance shapes, composited with
soft (partial-volume) edges at twice the output resolution and block-averaged. A slice shows

- femur (shaft flaring into the condyle), tibia (plateau with posterior slope, shaft, tuberosity),
  patella and, in lateral slices, the fibular head: dark cortical rims around bright fatty marrow
  with a trabecular texture (dark lines along the zero crossings of band-pass noise);
- femoral, tibial and patellar cartilage (intermediate signal), joint fluid (a thin joint-space
  band, the suprapatellar recess with a per-subject effusion, a posterior recess);
- anterior and posterior meniscal horns (dark wedges); in the intercondylar notch instead the
  cruciate ligaments (dark bands); quadriceps and patellar tendons (dark);
- Hoffa's, suprapatellar and popliteal fat, the popliteal artery (flow void), muscle with a
  striated texture and intermuscular fat septa, subcutaneous fat and skin.

Contrast: proton density without fat suppression (fastMRI's CORPD_FBK): fat brightest, marrow
bright, fluid intermediate-bright, cartilage intermediate, muscle intermediate-dark, cortex,
menisci, tendons and ligaments dark. Orientation: anterior on the image's left, superior at the top.

Per subject (:class:`KneeParams`): size, in-plane rotation, knee flexion, position, bone and
cartilage dimensions, patellar height and tilt, tibial slope, effusion, fat and muscle thickness,
left or right knee (side of the fibula), tissue contrasts and a block of adjacent sagittal slice
positions (medial/lateral condyle, notch, patella width vary with the slice position). The real
shoulder MRI of pydicom-data is not used: every texture here is procedural.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage
from scipy.interpolate import PchipInterpolator

from ..errors import ConfigError
from .partial_volume import slice_offsets

#: label map values of :func:`render_knee`
KNEE_LABELS: dict[int, str] = {
    0: "background", 1: "skin", 2: "fat", 3: "muscle", 4: "cortical_bone", 5: "marrow",
    6: "cartilage", 7: "fluid", 8: "meniscus", 9: "tendon_ligament", 10: "vessel",
}
#: mean proton-density intensity of each tissue (before per-subject jitter)
PD_INTENSITY: dict[str, float] = {
    "skin": 0.55, "fat": 1.0, "muscle": 0.36, "cortical_bone": 0.05, "marrow": 0.86,
    "cartilage": 0.58, "fluid": 0.74, "meniscus": 0.06, "tendon_ligament": 0.07, "vessel": 0.08,
}
_LABEL_OF = {name: code for code, name in KNEE_LABELS.items()}
_SUPERSAMPLE = 2
_EDGE_MM = 0.35  # width of the soft edges
_CENTRE_U = 12.0  # knee-frame u (mm) shown at the centre of the field of view


@dataclass(frozen=True)
class KneeParams:
    """One subject's random parameters (lengths in mm, angles in radians)."""

    slice_x: np.ndarray  # (S,) medial(-)/lateral(+) position of each sagittal slice
    fibula_side: float  # +1 or -1: which side of x the fibula lies on (left/right knee)
    scale: float
    rotation: float
    flexion: float
    shift: np.ndarray  # (2,) (u, v) translation
    cond_a: float  # femoral condyle half-length (AP) and half-height
    cond_b: float
    femur_w: float  # shaft width
    shaft_offset: float  # anterior offset of the femoral shaft from the condyle centre
    tib_w: float  # plateau AP width
    tib_h: float  # epiphysis height
    tib_shaft_w: float
    tib_slope: float
    pat_a: float  # patella half-thickness and half-height
    pat_b: float
    pat_tilt: float
    pat_height: float  # vertical offset (alta/baja)
    cart_fem: float
    cart_tib: float
    cart_pat: float
    effusion: float  # suprapatellar recess half-thickness
    fat_ant: float
    fat_post: float
    quad_t: float  # anterior thigh soft tissue in front of the femur
    post_t: float  # posterior soft tissue behind the condyle
    notch_w: float  # half-width of the intercondylar notch
    contrast: dict[str, float]
    texture_seed: int
    #: factor on the length scales of the marrow's trabecular texture and the muscle's striation
    #: (not drawn: a rendering choice, 1 = the textures as designed)
    texture_scale: float = 1.0


def sample_knee_params(rng: np.random.Generator, num_slices: int, spacing_mm: float | None = None) -> KneeParams:
    """Draw a subject and a block of ``num_slices`` adjacent sagittal slice positions."""
    if int(num_slices) < 1:
        raise ConfigError(f"num_slices must be >= 1, got {num_slices!r}")
    s = int(num_slices)
    spacing = float(rng.uniform(3.0, 4.5)) if spacing_mm is None else float(spacing_mm)
    span = (s - 1) * spacing
    x0 = rng.uniform(-36.0, max(-36.0, 36.0 - span))
    u = rng.uniform
    return KneeParams(
        slice_x=x0 + spacing * np.arange(s), fibula_side=float(rng.choice([-1.0, 1.0])),
        scale=float(u(0.88, 1.1)), rotation=float(np.deg2rad(rng.normal(0.0, 5.0))),
        flexion=float(np.deg2rad(u(0.0, 15.0))), shift=rng.normal(0.0, [5.0, 6.0]),
        cond_a=float(u(25.0, 31.0)), cond_b=float(u(21.0, 26.0)), femur_w=float(u(25.0, 31.0)),
        shaft_offset=float(u(3.0, 9.0)), tib_w=float(u(46.0, 56.0)), tib_h=float(u(26.0, 34.0)),
        tib_shaft_w=float(u(24.0, 30.0)), tib_slope=float(np.deg2rad(u(3.0, 10.0))),
        pat_a=float(u(9.0, 12.0)), pat_b=float(u(16.0, 21.0)), pat_tilt=float(np.deg2rad(rng.normal(12.0, 5.0))),
        pat_height=float(rng.normal(0.0, 4.0)), cart_fem=float(u(1.8, 2.8)), cart_tib=float(u(1.5, 2.4)),
        cart_pat=float(u(2.6, 3.8)), effusion=float(u(0.4, 4.0)), fat_ant=float(u(3.0, 9.0)),
        fat_post=float(u(5.0, 14.0)), quad_t=float(u(20.0, 30.0)), post_t=float(u(34.0, 46.0)),
        notch_w=float(u(6.0, 9.0)),
        contrast={n: float(v * np.exp(rng.normal(0.0, 0.07))) for n, v in PD_INTENSITY.items()},
        texture_seed=int(rng.integers(0, 2**31 - 1)),
    )


# ---- signed distances (negative inside), points as separate u (AP, + posterior), v (+ inferior) arrays


def _rot(u: np.ndarray, v: np.ndarray, cu: float, cv: float, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of (u, v) in a frame centred on (cu, cv) and rotated by ``angle``."""
    c, s = np.cos(angle), np.sin(angle)
    du, dv = u - cu, v - cv
    return c * du + s * dv, -s * du + c * dv


def _ellipse(u, v, cu, cv, a, b, angle=0.0):
    x, y = _rot(u, v, cu, cv, angle)
    q = np.sqrt((x / a) ** 2 + (y / b) ** 2) + 1e-9
    grad = np.sqrt((x / a**2) ** 2 + (y / b**2) ** 2) / q + 1e-9
    return (q - 1.0) / grad


def _capsule(u, v, p0, p1, r):
    pu, pv = u - p0[0], v - p0[1]
    du, dv = p1[0] - p0[0], p1[1] - p0[1]
    t = np.clip((pu * du + pv * dv) / (du * du + dv * dv), 0.0, 1.0)
    return np.hypot(pu - t * du, pv - t * dv) - r


def _rounded_box(u, v, cu, cv, hw, hh, r, angle=0.0):
    x, y = _rot(u, v, cu, cv, angle)
    qx, qy = np.abs(x) - (hw - r), np.abs(y) - (hh - r)
    return np.hypot(np.maximum(qx, 0), np.maximum(qy, 0)) + np.minimum(np.maximum(qx, qy), 0) - r


def _smin(a, b, k):
    """Smooth union of two signed distances (blend radius ``k`` mm)."""
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b * (1 - h) + a * h - k * h * (1 - h)


def _alpha(sd: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 - np.tanh(sd / _EDGE_MM))


class _Canvas:
    """Painter's algorithm with soft masks: intensity image and label map (supersampled grid)."""

    def __init__(self, shape: tuple[int, int], contrast: dict[str, float]):
        self.image = np.zeros(shape)
        self.labels = np.zeros(shape, dtype=np.uint8)
        self.contrast = contrast

    def paint(self, tissue: str, alpha: np.ndarray, modulation: np.ndarray | float = 1.0) -> None:
        value = self.contrast[tissue] * modulation
        self.image = self.image * (1.0 - alpha) + value * alpha
        self.labels[alpha > 0.5] = _LABEL_OF[tissue]


def _band_noise(rng: np.random.Generator, shape, lo: float, hi: float) -> np.ndarray:
    """Unit-variance band-pass noise between Gaussian scales ``lo`` and ``hi`` (pixels)."""
    white = rng.standard_normal(shape)
    n = ndimage.gaussian_filter(white, lo) - ndimage.gaussian_filter(white, hi)
    return n / (n.std() + 1e-12)


@dataclass(frozen=True)
class _SliceGeometry:
    """One sagittal slice's shapes on the supersampled grid: arrays ``(H', W')``, lengths in mm.

    ``u, v``: knee frame (u posterior, v inferior); ``tu, tv``: the tibia's frame (flexed about
    the joint centre). ``femur``, ``tibia``, ``patella``: signed distances, negative inside
    (``patella`` is 1e3 everywhere when the slice misses it). Points are ``(u, v)`` pairs.
    """

    x: float  # medial(-)/lateral(+) slice position
    u: np.ndarray
    v: np.ndarray
    tu: np.ndarray
    tv: np.ndarray
    lat: float  # 0 at the midline rising to 1 at |x| >= 40 mm
    in_notch: bool  # the slice passes through the intercondylar notch
    a_c: float  # condyle half-length and half-height at this slice
    b_c: float
    cond_lift: float  # condyle raised in the notch
    pat_w: float  # relative patella width at this slice (0 beyond it)
    gap: float  # plateau level: femoral + tibial cartilage + joint space
    cc: tuple[float, float]  # condyle centre
    epi_c: tuple[float, float]  # tibial epiphysis centre (tibia frame)
    tub_front: tuple[float, float]  # front of the tibial tuberosity (knee frame)
    pc: tuple[float, float]  # patella centre
    pa: float  # patella half-thickness at this slice
    sup_pole: tuple[float, float]  # patellar poles (tendon insertions)
    inf_pole: tuple[float, float]
    femur: np.ndarray
    tibia: np.ndarray
    patella: np.ndarray


def _femur(p: KneeParams, u: np.ndarray, v: np.ndarray, cc: tuple[float, float], a_c: float,
           b_c: float) -> np.ndarray:
    """Signed distance ``(H', W')`` of the femur: condyle centred on ``cc``, metaphysis, shaft."""
    shaft0 = (-p.shaft_offset, cc[1] - b_c * 0.6)
    shaft1 = (-p.shaft_offset - 8.0, -200.0)
    meta = _ellipse(u, v, -p.shaft_offset * 0.6, cc[1] - b_c * 0.7, p.cond_a * 0.82, b_c * 1.1)
    femur = _smin(_ellipse(u, v, *cc, a_c, b_c), meta, 6.0)
    return _smin(femur, _capsule(u, v, shaft0, shaft1, p.femur_w / 2), 8.0)


def _tibia(p: KneeParams, u: np.ndarray, v: np.ndarray, gap: float
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[float, float], tuple[float, float]]:
    """The flexed tibia: ``(tu, tv, signed distance, epiphysis centre, tuberosity centre)``.

    ``tu, tv`` ``(H', W')``: the knee frame rotated by ``-flexion`` about ``(0, gap)``; both
    centres are in that frame.
    """
    tu, tv = _rot(u, v, 0.0, gap, -p.flexion)
    tv = tv + gap
    epi_c = (2.0, gap + p.tib_h / 2)
    tibia = _rounded_box(tu, tv, *epi_c, p.tib_w / 2, p.tib_h / 2, 7.0, p.tib_slope)
    tib_meta = _ellipse(tu, tv, 1.0, gap + p.tib_h, p.tib_w * 0.4, p.tib_h * 0.75)
    tibia = _smin(tibia, tib_meta, 8.0)
    tibia = _smin(tibia, _capsule(tu, tv, (0.0, gap + p.tib_h * 1.2), (2.0, gap + 220.0), p.tib_shaft_w / 2), 8.0)
    tub = (epi_c[0] - p.tib_w / 2 + 5.0, gap + p.tib_h + 4.0)
    tibia = _smin(tibia, _ellipse(tu, tv, *tub, 6.0, 11.0), 5.0)
    return tu, tv, tibia, epi_c, tub


def _patella(p: KneeParams, u: np.ndarray, v: np.ndarray, a_c: float, b_c: float, pat_w: float
             ) -> tuple[tuple[float, float], float, np.ndarray, tuple[float, float], tuple[float, float]]:
    """``(centre, half-thickness, signed distance (H', W'), superior pole, inferior pole)``.

    A slice with ``pat_w <= 0.35`` misses the patella: distance 1e3, poles where the tendons end.
    """
    pc = (-a_c - p.cart_fem - p.cart_pat - 1.0 - p.pat_a * max(pat_w, 0.3), -b_c - 8.0 + p.pat_height)
    pa = p.pat_a * max(pat_w, 0.3)
    patella = _ellipse(u, v, *pc, pa, p.pat_b, p.pat_tilt) if pat_w > 0.35 else np.full(u.shape, 1e3)
    sup_pole = (pc[0] + np.sin(p.pat_tilt) * p.pat_b, pc[1] - np.cos(p.pat_tilt) * p.pat_b)
    inf_pole = (pc[0] - np.sin(p.pat_tilt) * p.pat_b, pc[1] + np.cos(p.pat_tilt) * p.pat_b)
    if pat_w <= 0.35:
        sup_pole, inf_pole = (pc[0] + 4.0, pc[1] - p.pat_b), (pc[0], pc[1] + p.pat_b)
    return pc, pa, patella, sup_pole, inf_pole


def _unflex(p: KneeParams, point: tuple[float, float], gap: float) -> tuple[float, float]:
    """A tibia-frame point in the knee frame (undoes :func:`_tibia`'s flexion)."""
    c, s = np.cos(p.flexion), np.sin(p.flexion)
    return (c * point[0] - s * (point[1] - gap), s * point[0] + c * (point[1] - gap) + gap)


def _slice_geometry(p: KneeParams, x: float, u: np.ndarray, v: np.ndarray) -> _SliceGeometry:
    """Bones and landmarks of the slice at ``x`` (mm) on the knee-frame grid ``u, v`` ``(H', W')``."""
    lat = np.clip(abs(x) / 40.0, 0.0, 1.0)
    in_notch = abs(x) < p.notch_w
    a_c = p.cond_a * (1.0 - 0.18 * lat**2)
    b_c = p.cond_b * (1.0 - 0.12 * lat**2)
    cond_lift = 9.0 if in_notch else 0.0
    pat_w = np.sqrt(max(0.0, 1.0 - (x / 24.0) ** 2))
    cc = (0.0, -b_c - cond_lift)  # condyle bone lowest point at v = 0
    gap = p.cart_fem + p.cart_tib + 0.6
    tu, tv, tibia, epi_c, tub = _tibia(p, u, v, gap)
    pc, pa, patella, sup_pole, inf_pole = _patella(p, u, v, a_c, b_c, pat_w)
    return _SliceGeometry(
        x=x, u=u, v=v, tu=tu, tv=tv, lat=lat, in_notch=in_notch, a_c=a_c, b_c=b_c, cond_lift=cond_lift,
        pat_w=pat_w, gap=gap, cc=cc, epi_c=epi_c, tub_front=_unflex(p, (tub[0] - 4.0, tub[1]), gap),
        pc=pc, pa=pa, sup_pole=sup_pole, inf_pole=inf_pole, femur=_femur(p, u, v, cc, a_c, b_c),
        tibia=tibia, patella=patella,
    )


def _skin_edges(p: KneeParams, g: _SliceGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Distances ``(H', W')`` (mm, positive inside) to the anterior and posterior skin edges.

    Each edge is a monotone cubic of ``v`` through control points set by the bones.
    """
    u, v, pc, tub_front = g.u, g.v, g.pc, g.tub_front
    ant_v = np.array([-260.0, -110.0, pc[1], tub_front[1], 110.0, 260.0])
    ant_u = np.array([-p.shaft_offset - p.femur_w / 2 - p.quad_t - 10.0, -p.shaft_offset - p.femur_w / 2 - p.quad_t,
                      pc[0] - g.pa - p.fat_ant - 2.0, tub_front[0] - p.fat_ant - 3.0,
                      -p.tib_shaft_w / 2 - p.fat_ant - 6.0, -p.tib_shaft_w / 2 - p.fat_ant - 10.0])
    order = np.argsort(ant_v)
    ant = PchipInterpolator(ant_v[order], ant_u[order])(v)
    post_v = np.array([-260.0, -110.0, 0.0, 110.0, 260.0])
    post_u = np.array([g.a_c + p.post_t + 25.0, g.a_c + p.post_t + 12.0, g.a_c + p.post_t,
                       p.tib_shaft_w / 2 + p.post_t + 20.0, p.tib_shaft_w / 2 + p.post_t + 30.0])
    post = PchipInterpolator(post_v, post_u)(v)
    return u - ant, post - u


def _paint_limb(cv: _Canvas, p: KneeParams, g: _SliceGeometry, px: float, rng: np.random.Generator,
                fine: np.random.Generator) -> None:
    """Skin, subcutaneous fat, striated muscle and fat septa; the striation is one ``(H', W')`` draw
    from ``fine``, then the septa one from ``rng``."""
    shape, v = g.u.shape, g.v
    d_ant, d_post = _skin_edges(p, g)
    limb = -np.minimum(d_ant, d_post)
    cv.paint("skin", _alpha(limb))
    cv.paint("fat", _alpha(limb + 1.3))
    inner = np.maximum(-(d_ant - 1.3 - p.fat_ant * (0.6 + 0.4 * np.abs(np.tanh((v - g.pc[1]) / 30.0)))),
                       -(d_post - 1.3 - p.fat_post))
    ts = p.texture_scale
    striation = ndimage.gaussian_filter(fine.standard_normal(shape), (5.0 * ts / px, 0.7 * ts / px))
    striation = 1.0 + 0.07 * striation / (striation.std() + 1e-12)
    cv.paint("muscle", _alpha(inner), np.clip(striation, 0.75, 1.25))
    septa = ndimage.gaussian_filter(rng.standard_normal(shape), (14.0 / px, 4.0 / px))
    septa /= septa.std() + 1e-12
    cv.paint("fat", _alpha(inner) * np.exp(-(septa / 0.1) ** 2) * 0.85)


def _paint_fat_pads(cv: _Canvas, p: KneeParams, g: _SliceGeometry, px: float, rng: np.random.Generator) -> None:
    """Popliteal, Hoffa's and suprapatellar fat (one ``(H', W')`` draw from ``rng`` roughens their
    outlines) and, near the midline, the popliteal artery."""
    u, v, a_c, pc = g.u, g.v, g.a_c, g.pc
    wobble = ndimage.gaussian_filter(rng.standard_normal(u.shape), 8.0 / px)
    wobble *= 2.5 / (wobble.std() + 1e-12)  # irregular fat-pad outlines, mm
    cv.paint("fat", _alpha(_ellipse(u, v, a_c + 11.0, -10.0, 10.0, 32.0, -0.1) + wobble))  # popliteal fossa
    hoffa = _ellipse(u, v, -a_c * 0.75, g.gap + 2.0, 14.0, 15.0) + wobble
    cv.paint("fat", _alpha(hoffa))
    supra = _ellipse(u, v, pc[0] + 6.0, pc[1] - p.pat_b - 20.0, 9.0, 24.0, 0.1) + 0.5 * wobble
    cv.paint("fat", _alpha(supra))
    if abs(g.x) < 16.0:
        cv.paint("vessel", _alpha(_capsule(u, v, (a_c + 14.0, -260.0), (a_c + 9.0, 260.0), 3.0)))


def _paint_fluid_and_tendons(cv: _Canvas, p: KneeParams, g: _SliceGeometry) -> None:
    """Joint fluid (suprapatellar and posterior recesses, joint space), then the quadriceps and
    patellar tendons."""
    u, v, a_c, b_c, pc = g.u, g.v, g.a_c, g.b_c, g.pc
    recess = _ellipse(u, v, -p.shaft_offset - p.femur_w / 2 - 2.0 - p.effusion, pc[1] - p.pat_b - 12.0,
                      p.effusion + 0.6, 26.0, 0.12)
    cv.paint("fluid", _alpha(recess))
    cv.paint("fluid", _alpha(_ellipse(u, v, a_c * 0.9, -b_c * 0.3, 3.0 + 0.5 * p.effusion, 10.0, -0.3)))
    joint = np.maximum(g.femur - p.cart_fem - 1.2, g.tibia - p.cart_tib - 1.2)
    cv.paint("fluid", _alpha(np.maximum(joint, np.abs(u) - (a_c + 3.0))))
    sup_pole = g.sup_pole
    cv.paint("tendon_ligament", _alpha(_capsule(u, v, sup_pole, (sup_pole[0] + 7.0, sup_pole[1] - 70.0), 3.4)))
    cv.paint("tendon_ligament", _alpha(_capsule(u, v, g.inf_pole, g.tub_front, 2.8)))


def _paint_cartilage(cv: _Canvas, p: KneeParams, g: _SliceGeometry) -> None:
    """Femoral, tibial and (where the slice cuts the patella) patellar cartilage shells."""
    u, v, tu, tv = g.u, g.v, g.tu, g.tv
    fem_art = (v > g.cc[1] - 0.2 * g.b_c) | (u < -0.45 * g.a_c)
    cv.paint("cartilage", _alpha(g.femur - p.cart_fem) * fem_art * (v > -g.b_c - g.cond_lift - 40.0))
    tib_art = (tv < g.gap + 6.0) & (np.abs(tu - g.epi_c[0]) < p.tib_w / 2 - 4.0)
    cv.paint("cartilage", _alpha(g.tibia - p.cart_tib) * tib_art)
    if g.pat_w > 0.35:
        pat_art = _rot(u, v, *g.pc, p.pat_tilt)[0] > 0.0
        cv.paint("cartilage", _alpha(g.patella - p.cart_pat) * pat_art)


def _paint_menisci_or_cruciates(cv: _Canvas, p: KneeParams, g: _SliceGeometry) -> None:
    """Anterior and posterior meniscal wedges between condyle and plateau, or in the notch the
    cruciate ligaments."""
    u, v, tu, tv, a_c, b_c, gap = g.u, g.v, g.tu, g.tv, g.a_c, g.b_c, g.gap
    plateau_v = gap
    if not g.in_notch:
        grow = 0.7 + 0.5 * g.lat
        for front, length, height in ((True, 9.0, 5.0), (False, 13.0, 6.5)):
            edge = (-p.tib_w / 2 + 2.0) if front else (p.tib_w / 2 - 1.0)
            sign = 1.0 if front else -1.0
            apex_u = edge + sign * length * grow
            # wedge: above the plateau, below a line from the outer top to the apex
            top = plateau_v - height * grow * np.clip((u - apex_u) / (edge - apex_u), 0.0, 1.0)
            wedge = np.maximum.reduce([tv - plateau_v, top - tv, sign * (edge - tu), sign * (tu - apex_u)])
            cv.paint("meniscus", _alpha(np.maximum(wedge, -g.femur)))
    else:
        pcl = _capsule(u, v, (a_c * 0.55, gap + 8.0), (a_c * 0.1, -b_c * 0.9), 2.6)
        acl = _capsule(u, v, (-a_c * 0.35, gap + 1.0), (a_c * 0.35, -b_c * 0.8), 2.2)
        cv.paint("tendon_ligament", _alpha(pcl))
        cv.paint("tendon_ligament", _alpha(acl) * 0.85)


def _paint_bones(cv: _Canvas, p: KneeParams, g: _SliceGeometry, px: float, rng: np.random.Generator) -> None:
    """Cortex, then marrow with a trabecular texture (one ``(H', W')`` draw from ``rng``), of the
    femur, tibia, patella (where cut) and, in lateral slices on the fibula's side, the fibular head."""
    tu, tv, gap = g.tu, g.tv, g.gap
    bones = [g.femur, g.tibia]
    if g.pat_w > 0.35:
        bones.append(g.patella)
    if g.x * p.fibula_side > 24.0:
        ftu, ftv = p.tib_w / 2 - 8.0, gap + p.tib_h * 0.8
        bones.append(_smin(_ellipse(tu, tv, ftu, ftv, 10.0, 9.0),
                           _capsule(tu, tv, (ftu, ftv), (ftu + 4.0, gap + 220.0), 6.0), 6.0))
    trab = _band_noise(rng, g.u.shape, 0.5 * p.texture_scale / px, 1.6 * p.texture_scale / px)
    trabecular = 1.0 - 0.25 * np.exp(-(trab / 0.3) ** 2)
    for bone in bones:
        cv.paint("cortical_bone", _alpha(bone))
        cv.paint("marrow", _alpha(bone + 1.4), trabecular)


def _render_slice(p: KneeParams, x: float, u: np.ndarray, v: np.ndarray, px: float,
                  rng: np.random.Generator, fine: np.random.Generator | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Paint the slice at ``x`` (mm) on the knee-frame grid ``u, v`` ``(H', W')`` of pixel size ``px`` mm.

    Tissues go on back to front (later ones cover earlier ones). The fine textures (muscle
    striation, trabecular bone) are drawn from ``fine`` (``None``: ``rng``), the coarse ones (fat
    septa, fat-pad outlines) from ``rng``; in a fixed order (muscle, fat pads, bone texture).
    Returns ``(image float64 (H', W'), labels uint8 (H', W'))``.
    """
    fine = rng if fine is None else fine
    g = _slice_geometry(p, x, u, v)
    cv = _Canvas(u.shape, p.contrast)
    _paint_limb(cv, p, g, px, rng, fine)
    _paint_fat_pads(cv, p, g, px, rng)
    _paint_fluid_and_tendons(cv, p, g)
    _paint_cartilage(cv, p, g)
    _paint_menisci_or_cruciates(cv, p, g)
    _paint_bones(cv, p, g, px, fine)
    return cv.image, cv.labels


def _thick_slice(p: KneeParams, i: int, offsets: np.ndarray, u: np.ndarray, v: np.ndarray, px: float,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Slice ``i`` averaged over the planes at ``p.slice_x[i] + offsets`` (mm): ``rng`` gives every
    plane the same coarse draws (and is left after one plane's), each plane's fine textures come
    from a generator of its own. Returns ``(image float64 (H', W'), the middle plane's labels)``."""
    state = rng.bit_generator.state
    planes, labels = [], []
    for j, dx in enumerate(offsets):
        rng.bit_generator.state = state
        fine = np.random.default_rng([p.texture_seed, i, j])
        img, lab = _render_slice(p, float(p.slice_x[i] + dx), u, v, px, rng, fine)
        planes.append(img)
        labels.append(lab)
    return np.mean(planes, axis=0), labels[len(offsets) // 2]


def render_knee(
    params: KneeParams, shape: tuple[int, int], fov_mm: float = 160.0, thickness_mm: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Render a subject's sagittal slices.

    ``thickness_mm`` > 0 averages each slice over the planes of
    :func:`~mriunlearn.simulate.partial_volume.slice_offsets`: the coarse draws (fat septa and
    fat-pad outlines) are the same in every plane of a slice, the fine textures (striation,
    trabeculae) are drawn anew per plane, as they decorrelate within a millimetre; the labels are
    the middle plane's.

    Returns:
        ``(images, labels)``: images float32 ``(S, H, W)`` PD-like magnitude (fat ~1), labels uint8
        ``(S, H, W)`` (:data:`KNEE_LABELS`).
    """
    h, w = int(shape[0]), int(shape[1])
    if h < 2 or w < 2:
        raise ConfigError(f"render_knee: shape must be at least (2, 2), got {shape}")
    ss = _SUPERSAMPLE
    hs, ws = h * ss, w * ss
    px = fov_mm / max(hs, ws)
    rows = (np.arange(hs) - (hs - 1) / 2.0) * (fov_mm / hs)
    cols = (np.arange(ws) - (ws - 1) / 2.0) * (fov_mm / ws)
    gu, gv = np.meshgrid(cols, rows)
    # subject pose: image point -> knee frame (joint centre near the middle of the field of view)
    u, v = _rot(gu, gv, params.shift[0], params.shift[1], params.rotation)
    u, v = u / params.scale + _CENTRE_U, v / params.scale
    rng = np.random.default_rng(params.texture_seed)
    offsets = slice_offsets(thickness_mm)
    images, labels = [], []
    for i, x in enumerate(params.slice_x):
        if len(offsets) == 1:
            img, lab = _render_slice(params, float(x), u, v, px / params.scale, rng)
        else:
            img, lab = _thick_slice(params, i, offsets, u, v, px / params.scale, rng)
        images.append(img.reshape(h, ss, w, ss).mean(axis=(1, 3)))
        labels.append(lab[ss // 2::ss, ss // 2::ss])
    return np.clip(np.stack(images), 0.0, None).astype(np.float32), np.stack(labels).astype(np.uint8)


def knee_volume(
    rng: np.random.Generator, num_slices: int, shape: tuple[int, int], fov_mm: float = 160.0,
    texture_scale: float = 1.0, thickness_mm: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw a subject and render it: ``(images (S, H, W) float32, labels (S, H, W) uint8)``;
    ``texture_scale``: :attr:`KneeParams.texture_scale`; ``thickness_mm``: :func:`render_knee`'s."""
    params = replace(sample_knee_params(rng, num_slices), texture_scale=float(texture_scale))
    return render_knee(params, shape, fov_mm, thickness_mm)
