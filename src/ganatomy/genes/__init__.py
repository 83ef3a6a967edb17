"""StyleGenes' gene operations and conditional sampling, on a generator with a gene-bank prior.

The prior itself lives with the networks (``ganatomy.nets.genes.GeneBankPrior``; train one with
``ganatomy train --prior genes``). Here::

    from ganatomy.genes import GeneStatistics, sweep, format_dna
    prior = gene_prior(G)
    grid = G(sweep(prior, dna, gene=3))                       # all variants of gene 3
    stats = GeneStatistics(n_samples=10_000).fit(G)           # judged by the world oracle
    stats.mutual_info_["glasses"]                             # I(s_i; glasses) per gene
    dnas = stats.sample(16, {"glasses": "on"}, temperature=0.5)

- :func:`sweep`, :func:`crossover`, :func:`mutate`, :func:`knock_out`: the DNA operations;
- :class:`GeneStatistics`: q(variant, class) per gene, attribution I(s_i; a), conditional sampling;
- :func:`format_dna` / :func:`parse_dna`: DNAs as text (``3.17.0.42...``).
"""

from ganatomy.genes.dna import format_dna, parse_dna
from ganatomy.genes.operations import crossover, knock_out, mutate, sweep
from ganatomy.genes.statistics import GeneStatistics
from ganatomy.nets.genes import GeneBankPrior, gene_prior

__all__ = [
    "GeneBankPrior",
    "GeneStatistics",
    "crossover",
    "format_dna",
    "gene_prior",
    "knock_out",
    "mutate",
    "parse_dna",
    "sweep",
]
