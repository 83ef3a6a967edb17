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

# Tiny curvature on the bias so that a class without active pixels still has a solvable system.
BIAS_RIDGE = 1e-6
# Gather the active rows when they are fewer than this share of all rows.
GATHER_SHARE = 0.6


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


def gradient_at_zero_norm(x: torch.Tensor, labels: torch.Tensor, classes: torch.Tensor, coef: float) -> torch.Tensor:
    """‖∇J_k(0)‖ per class: at w = 0 every pixel is active and the gradient is -2c Σ t_i (x_i, 1)."""
    total = x.sum(0)
    pos = torch.zeros(len(classes), x.shape[1], dtype=x.dtype, device=x.device)
    index = torch.full((int(labels.max()) + 1 if len(labels) else 1,), -1, dtype=torch.long, device=x.device)
    index[classes] = torch.arange(len(classes), device=x.device)
    rows = index[labels]
    keep = rows >= 0
    pos.index_add_(0, rows[keep], x[keep])
    counts = torch.bincount(rows[keep], minlength=len(classes)).to(x.dtype)
    gw = 2 * coef * (2 * pos - total[None, :])
    gb = 2 * coef * (2 * counts - len(x))
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
) -> tuple[torch.Tensor, torch.Tensor]:
    """Solve J_k for the given ``classes`` (label values), warm-started from ``weights[j], biases[j]``.

    ``weights`` [m, D] and ``biases`` [m] are the starting points of ``classes`` (in that order);
    the solved (weights, biases) come back as new tensors.
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
    g0 = gradient_at_zero_norm(x, labels, classes.to(labels.device), coef).clamp_min(1e-12)
    todo = torch.ones(len(classes), dtype=torch.bool, device=x.device)
    stats = stats if stats is not None else SolverStats()
    for _ in range(max_newton):
        idx = todo.nonzero().flatten()
        if not len(idx):
            break
        wi, bi, ti = w[idx], b[idx], t[:, idx]
        scores = x @ wi.T + bi[None, :]
        active = (ti * scores) < 1
        resid = active * (scores - ti)
        gw = wi + 2 * coef * (resid.T @ x)
        gb = 2 * coef * resid.sum(0)
        gnorm = (gw.square().sum(1) + gb.square()).sqrt()
        done = gnorm <= tol * g0[idx]
        todo[idx[done]] = False
        if bool(done.all()):
            break
        keep = ~done
        idx, wi, bi, ti = idx[keep], wi[keep], bi[keep], ti[:, keep]
        scores, active, gw, gb, gnorm = scores[:, keep], active[:, keep], gw[keep], gb[keep], gnorm[keep]
        # Rows that no remaining class has active add nothing to the Hessian.
        rows = active.any(1)
        if int(rows.sum()) < GATHER_SHARE * n:
            sel = rows.nonzero().flatten()
            xa, ma = x[sel], active[sel].to(x.dtype)
        else:
            xa, ma = x, active.to(x.dtype)
        dw, db = _conjugate_gradient(xa, ma, gw, gb, 2 * coef, max_cg, stats)
        # Backtracking line search per class on the exact objective (scores move linearly).
        step_scores = x @ dw.T + db[None, :]
        f = _loss(scores, ti, wi, coef)
        slope = (gw * dw).sum(1) + gb * db
        alpha = torch.ones(len(idx), dtype=x.dtype, device=x.device)
        accepted = torch.zeros(len(idx), dtype=torch.bool, device=x.device)
        for _ in range(20):
            trial = _loss(scores + alpha[None, :] * step_scores, ti, wi + alpha[:, None] * dw, coef)
            ok = trial <= f + 0.01 * alpha * slope
            accepted |= ok
            if bool(accepted.all()):
                break
            alpha = torch.where(accepted, alpha, alpha * 0.5)
        alpha = torch.where(accepted, alpha, torch.zeros_like(alpha))
        w[idx] = wi + alpha[:, None] * dw
        b[idx] = bi + alpha * db
        todo[idx[~accepted]] = False  # no descent left at float precision: as solved as it gets
        stats.newton_steps += 1
    return w, b


def _conjugate_gradient(
    x: torch.Tensor, mask: torch.Tensor, gw: torch.Tensor, gb: torch.Tensor, curv: float, max_iter: int, stats
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-class CG on H d = -g with H v = v (+ ridge on the bias) + curv X_Aᵀ(X_A v_w + v_b)."""

    def hess(vw: torch.Tensor, vb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        q = mask * (x @ vw.T + vb[None, :])
        return vw + curv * (q.T @ x), BIAS_RIDGE * vb + curv * q.sum(0)

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
