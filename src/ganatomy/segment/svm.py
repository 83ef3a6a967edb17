"""One-vs-rest linear classifiers with the squared hinge loss, solved for many classes at once.

For class k with targets t_ik = +1 if y_i = k else -1 and scores s_ik = w_k·x_i + b_k::

    J_k(w_k, b_k) = ½‖w_k‖² + (C / N) Σ_i max(0, 1 - t_ik s_ik)²        (the bias is not regularised)

The classes are independent problems, so they are solved side by side: every step is a few
matrix products of the pixel features X [N, D] with the [m, D] block of the classes being solved.
The solver is a truncated Newton method (as LIBLINEAR's for this loss): the loss is piecewise
quadratic, its generalised Hessian is I + (2C/N) X_Aᵀ X_A over the active pixels A (t·s < 1), and
conjugate gradients solve each Newton system with Hessian-vector products only. Each class has
its own CG step sizes, line search and stopping test (‖∇J_k‖ <= tol ‖∇J_k(0)‖), so a class that is
already solved costs nothing further. Rows of X that no class being solved has active are left out
of the Hessian products (a cheap gather when few classes are solved: the common merge step).
"""

from __future__ import annotations

import dataclasses

import torch

from ganatomy.errors import OptionsError
from ganatomy.utils.precision import native_bf16

# Tiny curvature on the bias so that a class without active pixels still has a solvable system.
BIAS_RIDGE = 1e-6
# Gather the active rows when they are fewer than this share of all rows.
GATHER_SHARE = 0.6
# From this many classes solved together, CPU Hessian products use bfloat16.
BF16_MIN_CLASSES = 8


@dataclasses.dataclass
class SolverStats:
    newton_steps: int = 0
    cg_steps: int = 0


def targets(labels: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """t [N, m]: +1 where labels equal the class, -1 elsewhere."""
    return (labels[:, None] == classes[None, :]).to(torch.float32) * 2 - 1


def _loss(scores: torch.Tensor, t: torch.Tensor, w: torch.Tensor, coef: float) -> torch.Tensor:
    slack = (1 - t * scores).clamp_min(0)
    return 0.5 * w.square().sum(1) + coef * slack.square().sum(0)


def class_sums(x: torch.Tensor, labels: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(Σ_{y_i = j} x_i [k, D], counts [k]): what the gradient at zero needs (merges just add them)."""
    sums = torch.zeros(k, x.shape[1], dtype=x.dtype, device=x.device).index_add_(0, labels, x)
    return sums, torch.bincount(labels, minlength=k).to(x.dtype)


def zero_gradient_norm(sums: torch.Tensor, counts: torch.Tensor, total: torch.Tensor, n: int, coef: float):
    """‖∇J_k(0)‖ per class: at w = 0 every pixel is active and the gradient is -2c Σ_i t_ik (x_i, 1)."""
    gw = 2 * coef * (2 * sums - total[None, :])
    gb = 2 * coef * (2 * counts - n)
    return (gw.square().sum(1) + gb.square()).sqrt()


def solve_ovr(
    x: torch.Tensor,
    labels: torch.Tensor,
    weights: torch.Tensor,
    biases: torch.Tensor,
    classes: torch.Tensor,
    C: float = 5000.0,
    tol: float = 1e-2,
    max_newton: int = 20,
    max_cg: int = 30,
    stats: SolverStats | None = None,
    zero_grad: torch.Tensor | None = None,
    scores: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Solve J_k for the given ``classes`` (label values), warm-started from ``weights[j], biases[j]``.

        ``weights`` [m, D] and ``biases`` [m] are the starting points of ``classes`` (in that order);
        the solved (weights, biases, scores [N, m]) come back as new tensors; ``scores`` are those of the
    starting point when the caller has them (saves a pass over X). ``zero_grad`` [m] is ‖∇J_k(0)‖ when the
        caller keeps it (:func:`zero_gradient_norm`); computed here otherwise.

        With many classes at once on a CPU that computes bfloat16 natively the Hessian products run in
        it (3x the float32 speed there; emulated, it would be slower); gradients, losses and the line
        search stay in float32, so a rougher Newton direction costs a step or two, never accuracy.
    """
    if x.ndim != 2 or labels.shape != (len(x),):
        got = f"{list(x.shape)} and {list(labels.shape)}"
        raise OptionsError(f"svm: features [N, D] and labels [N] expected, got {got}")
    if not C > 0:
        raise OptionsError(f"svm: C must be > 0, got {C}")
    n = len(x)
    coef = C / n
    w = weights.to(x.dtype).clone()
    b = biases.to(x.dtype).clone()
    t = targets(labels, classes.to(labels.device))
    if zero_grad is None:
        sums, counts = class_sums(x, labels, int(max(int(labels.max()), int(classes.max())) + 1))
        zero_grad = zero_gradient_norm(sums[classes], counts[classes], x.sum(0), n, coef)
    g0 = zero_grad.to(x.dtype).clamp_min(1e-12)
    low_precision = x.device.type == "cpu" and len(classes) >= BF16_MIN_CLASSES and native_bf16("cpu")
    todo = torch.ones(len(classes), dtype=torch.bool, device=x.device)
    stats = stats if stats is not None else SolverStats()
    # Scores of all classes, kept up to date (s moves linearly along a Newton step): one pass over X per step.
    all_scores = project(x, w, b) if scores is None else scores.to(x.dtype).clone()
    for _ in range(max_newton):
        idx = todo.nonzero().flatten()
        if not len(idx):
            break
        wi, bi, ti, si = w[idx], b[idx], t[:, idx], all_scores[:, idx]
        active = (ti * si) < 1
        # Rows that no class being solved has active add nothing to the gradient or the Hessian.
        rows = active.any(1)
        if int(rows.sum()) < GATHER_SHARE * n:
            sel = rows.nonzero().flatten()
            xa, ma, ra = x[sel], active[sel], (si[sel] - ti[sel])
        else:
            xa, ma, ra = x, active, si - ti
        resid = ma * ra
        gw = wi + 2 * coef * (resid.T @ xa)
        gb = 2 * coef * resid.sum(0)
        gnorm = (gw.square().sum(1) + gb.square()).sqrt()
        done = gnorm <= tol * g0[idx]
        todo[idx[done]] = False
        if bool(done.all()):
            break
        keep = ~done
        idx, wi, bi, ti, si = idx[keep], wi[keep], bi[keep], ti[:, keep], si[:, keep]
        gw, gb, ma = gw[keep], gb[keep], ma[:, keep].to(x.dtype)
        if low_precision:
            xa, ma = xa.to(torch.bfloat16), ma.to(torch.bfloat16)
        dw, db = _conjugate_gradient(xa, ma, gw, gb, 2 * coef, max_cg, stats)
        # Backtracking line search per class on the exact objective (scores move linearly).
        step_scores = project(x, dw, db)
        f = _loss(si, ti, wi, coef)
        slope = (gw * dw).sum(1) + gb * db
        alpha = torch.ones(len(idx), dtype=x.dtype, device=x.device)
        accepted = torch.zeros(len(idx), dtype=torch.bool, device=x.device)
        for _ in range(20):
            trial = _loss(si + alpha[None, :] * step_scores, ti, wi + alpha[:, None] * dw, coef)
            accepted |= trial <= f + 0.01 * alpha * slope
            if bool(accepted.all()):
                break
            alpha = torch.where(accepted, alpha, alpha * 0.5)
        alpha = torch.where(accepted, alpha, torch.zeros_like(alpha))
        w[idx] = wi + alpha[:, None] * dw
        b[idx] = bi + alpha * db
        all_scores[:, idx] = si + alpha[None, :] * step_scores
        todo[idx[~accepted]] = False  # no descent left at float precision: as solved as it gets
        stats.newton_steps += 1
    return w, b, all_scores


def project(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Scores x @ wᵀ + b [N, m]. One class goes through a two-column product: on the CPU the
    matrix-vector path is about half as fast as a matrix-matrix product of two columns."""
    if len(w) == 1:
        return (x @ torch.cat([w, torch.zeros_like(w)]).T)[:, :1] + b[None, :]
    return x @ w.T + b[None, :]


def _conjugate_gradient(
    x: torch.Tensor, mask: torch.Tensor, gw: torch.Tensor, gb: torch.Tensor, curv: float, max_iter: int, stats
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-class CG on H d = -g with H v = v (+ ridge on the bias) + curv X_Aᵀ(X_A v_w + v_b)."""

    def hess(vw: torch.Tensor, vb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        q = mask * (x @ vw.T.to(x.dtype) + vb[None, :].to(x.dtype))
        return vw + curv * (q.T @ x).to(vw.dtype), BIAS_RIDGE * vb + curv * q.sum(0).to(vb.dtype)

    dw, db = torch.zeros_like(gw), torch.zeros_like(gb)
    rw, rb = -gw, -gb
    pw, pb = rw.clone(), rb.clone()
    rr = rw.square().sum(1) + rb.square()
    stop = 0.01 * rr  # ‖r‖ <= 0.1 ‖g‖
    live = torch.ones_like(rr, dtype=torch.bool)
    for _ in range(max_iter):
        hw, hb = hess(pw, pb)
        php = (pw * hw).sum(1) + pb * hb
        a = torch.where(live, rr / php.clamp_min(1e-30), torch.zeros_like(rr))
        dw += a[:, None] * pw
        db += a * pb
        rw -= a[:, None] * hw
        rb -= a * hb
        rr_new = rw.square().sum(1) + rb.square()
        live &= rr_new > stop
        stats.cg_steps += 1
        if not bool(live.any()):
            break
        beta = torch.where(live, rr_new / rr.clamp_min(1e-30), torch.zeros_like(rr))
        pw = rw + beta[:, None] * pw
        pb = rb + beta * pb
        rr = rr_new
    return dw, db
